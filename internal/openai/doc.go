// Package openai translates the OpenAI-compatible routes the proxy serves
// (/v1/models, /v1/embeddings, /v1/images/generations, /v1/audio/speech) to
// the Gemini API and back, and writes errors in OpenAI's shape. Chat
// completions live in the chat subpackage.
//
// Everything here is pure: bodies in, bodies out, no HTTP and no keys. Error
// bodies handed to FromGoogleError are expected to be redacted already (the
// balancer does that for every upstream answer).
//
// Decisions, where OpenAI and Gemini do not line up:
//
//   - Errors. One encoder (ErrorBody, ErrorBodyCode) for every OpenAI route,
//     chat completions included; its vocabulary is the table above ErrorType:
//     400 invalid_request_error, 401 authentication_error ("invalid_api_key"),
//     403 permission_error, 404 not_found_error, 429 rate_limit_error
//     ("rate_limit_exceeded"), 503 service_unavailable_error, other 5xx
//     server_error; code is a string or null. The SDKs pick their exception
//     class from the HTTP status, which the caller keeps. A Google error
//     keeps its HTTP status and message; its google.rpc status
//     ("RESOURCE_EXHAUSTED", "INVALID_ARGUMENT", ...) becomes the code.
//
//   - Embeddings. input may be a string or an array of strings; token arrays
//     are refused (Gemini embeds text). At most 2048 inputs, like OpenAI.
//     Gemini's batchEmbedContents takes at most 100 requests, so callers with
//     more inputs split them (ChunkInputs) and join the vectors
//     (ParseGeminiEmbeddings, EmbeddingsResponse). base64 encoding is the
//     little-endian float32 bytes of each vector, as OpenAI's SDKs expect.
//     Gemini reports no token usage for embeddings; EstimateTokens gives a
//     rough count when the caller has nothing better.
//
//   - Images (Imagen :predict). n is 1..4 (Imagen's limit; more is refused,
//     not silently cut). Any WxH size is accepted and mapped to the nearest
//     of Imagen's ratios 1:1, 3:4, 4:3, 9:16, 16:9. response_format "url" is
//     accepted and answered with a data: URL (the proxy hosts no files);
//     without response_format the answer carries b64_json. quality and style
//     have no Imagen counterpart and are ignored. gemini-balance's prompt
//     directives {n:N} and {ratio:W:H} are honoured and removed from the
//     prompt. An answer whose every image was filtered becomes a 400 with
//     code "content_policy_violation", as OpenAI answers a refused prompt.
//
//   - Speech (Gemini TTS). Gemini answers 16-bit little-endian mono PCM
//     (mimeType "audio/L16;codec=pcm;rate=24000"); the proxy does not encode
//     audio, so response_format is "wav" (default when absent) or "pcm";
//     mp3, opus, aac and flac are refused with a 400 naming the supported
//     ones. OpenAI voices map to Gemini prebuilt voices (see MapVoice);
//     instructions and speed, which Gemini TTS has no field for, become a
//     spoken-style directive before the text ("<directive>: <input>"), the
//     form Google's speech guide uses. input is limited to 4096 characters,
//     like OpenAI.
package openai
