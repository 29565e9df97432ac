// Package chat translates OpenAI Chat Completions to Gemini generateContent and
// back. It does no I/O of its own: image URLs go through a caller-supplied
// Fetcher.
//
// Request (DecodeRequest, ToGemini):
//
//   - system and developer messages become systemInstruction (one text part
//     each); user and assistant become user and model turns, consecutive turns
//     of one role merged. A conversation with only system text sends it as the
//     user prompt; for the 2.0 image-generation models (which refuse system
//     instructions) it is folded into the first user turn.
//   - Content parts: text; image_url (data: URLs inline, http(s) URLs through
//     the Fetcher, Gemini Files API URIs as fileData); input_audio
//     (wav, mp3, flac, ogg, aac, aiff, m4a); input_video (gemini-balance's
//     extension); file with file_data (a data: URL, or base64 with a filename
//     extension). file_id is refused: there is no OpenAI file store here.
//   - Assistant tool_calls become functionCall parts (arguments parsed; an
//     object is also accepted where a string is due). Their
//     extra_content.google.thought_signature goes back as thoughtSignature,
//     the way Google's own OpenAI endpoint carries it. For Gemini 3 models a
//     first call without a signature (clients that drop extra_content) gets
//     Google's documented "skip_thought_signature_validator", so the request
//     is not refused with "missing thought_signature". A message-level
//     extra_content signature goes back on the message's last text part.
//   - tool messages become functionResponse parts named after the call they
//     answer; the response is the JSON object the tool returned, or
//     {"result": <value or text>}. Ids this package did not generate are
//     sent as functionCall.id / functionResponse.id.
//   - tools become one functionDeclarations tool with the schema forwarded
//     as parametersJsonSchema (so anyOf, $ref, const, additionalProperties
//     survive); duplicate names keep the first. tool_choice none/auto/required
//     map to NONE/AUTO/ANY, a named function to ANY with
//     allowedFunctionNames, allowed_tools "required" to ANY with the names and
//     allowed_tools "auto" to AUTO with only those functions declared.
//   - response_format json_object sets responseMimeType; json_schema also
//     sets responseJsonSchema to the schema as sent.
//   - reasoning_effort follows Google's OpenAI-compatibility mapping: 2.5
//     models get thinkingBudget 1024 (minimal, low), 8192 (medium), 24576
//     (high, xhigh), 0 for none (128 on Pro, which cannot turn thinking off);
//     Gemini 3 models get thinkingLevel low (minimal, low) or high (medium,
//     high, xhigh), and for none their lowest level (minimal on Flash, low on
//     Pro). extra_body.google.thinking_config (thinking_budget,
//     thinking_level, include_thoughts) is honoured too and sent as written.
//     The client's fields win over the -non-thinking alias, which wins over
//     the settings' default budget. reasoning_effort and the settings apply
//     only to models that can think (2.5 and later, guessed from the name):
//     thinkingConfig on other models is refused upstream.
//   - Built-in tools from settings (search, code execution, URL context) are
//     dropped when the client declares functions, and before Gemini 3 when a
//     JSON response format is asked for: Gemini refuses those combinations.
//   - seed is folded to 32 bits; n is candidateCount (at most 8).
//
// Response (FromGemini, Stream): text parts are joined; thoughts go to
// reasoning_content when shown; function calls become tool_calls with
// arguments as a JSON string and the part's signature in
// extra_content.google.thought_signature; images become markdown data URLs
// when asked; executable code and its result become fenced blocks; grounding
// sources become a "Sources" list when asked. finish_reason: MAX_TOKENS is
// length; SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII and the
// IMAGE_* safety reasons are content_filter (with a refusal when nothing was
// produced); anything else is stop, or tool_calls when the choice has tool
// calls. A blocked prompt is one choice with empty content, a refusal and
// content_filter. usage counts thoughts in completion_tokens (and
// reasoning_tokens), tool-use prompt tokens in prompt_tokens, and
// cachedContentTokenCount as cached_tokens.
package chat
