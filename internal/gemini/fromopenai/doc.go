// Package fromopenai lets an OpenAI-compatible provider (DeepSeek, OpenAI,
// any chat completions API) answer Gemini-native clients. It is the reverse
// of internal/openai/chat and, like it, pure: no I/O, no clock, no
// randomness, so the same input always gives the same output.
//
// Request turns a Gemini GenerateContentRequest into a chat completion
// request:
//
//   - systemInstruction is one system message (text parts joined by "\n");
//     contents roles user (or none, or "function") and model are user and
//     assistant messages. User text parts are joined by "\n"; model text
//     parts are concatenated (clients often resend a streamed answer as its
//     chunks). thought parts are dropped: they are the model's own notes and
//     providers refuse or ignore them as input.
//   - inlineData image/* becomes an image_url data: URL (the user message's
//     content is then an array of parts). Other inline types, fileData
//     (Files API URIs), executableCode and codeExecutionResult are refused.
//   - functionCall parts are the assistant's tool_calls (arguments as the
//     JSON text of args). A call without an id gets "call_<content>_<part>",
//     stable across the turns of a conversation. functionResponse parts are
//     tool messages (the response as compact JSON; the SDKs' wrapping of a
//     plain return value, {"result": "text"}, as the text), answered to the
//     call with the same id, else to the
//     earliest unanswered call of that name; one that answers no call is
//     refused. They go before the turn's other parts, since OpenAI wants the
//     tool messages right after the assistant message that called.
//   - tools: functionDeclarations become function tools. parametersJsonSchema
//     goes as is; parameters (Gemini's OpenAPI subset) is turned into JSON
//     Schema (lower-case types, nullable as a "null" type, Gemini-only keys
//     dropped). Built-in tools (googleSearch, codeExecution, urlContext, ...)
//     are refused.
//   - toolConfig.functionCallingConfig: AUTO and VALIDATED are "auto", NONE
//     "none", ANY "required"; allowedFunctionNames keeps only those tools
//     (one name is a named tool_choice), which every provider understands,
//     unlike OpenAI's newer allowed_tools.
//   - generationConfig: temperature, topP, stopSequences (stop),
//     candidateCount (n), presencePenalty, frequencyPenalty and seed map one
//     to one. maxOutputTokens is max_tokens, the name DeepSeek and nearly
//     every compatible server take; OpenAI's reasoning models (o1, o3, o4,
//     gpt-5) refuse it, so for those names it is max_completion_tokens.
//     responseMimeType application/json is response_format json_object, or
//     json_schema when responseJsonSchema or responseSchema is set; for
//     json_object a short system line asks for JSON when no message says
//     "json" (OpenAI and DeepSeek refuse json_object otherwise). Refused:
//     responseModalities other than TEXT, speechConfig, responseLogprobs,
//     other response MIME types, and cachedContent.
//   - Ignored, on purpose: safetySettings (providers have their own
//     moderation and no such knob), thinkingConfig (no portable equivalent;
//     a reasoning model reasons anyway), topK (not in the OpenAI API; strict
//     servers refuse unknown fields), mediaResolution and thoughtSignature.
//   - stream adds stream_options.include_usage, so the last event has usage.
//
// Response turns a chat completion into a GenerateContentResponse:
// choices are candidates; reasoning_content (DeepSeek; "reasoning" on some
// servers) is a thought part, content and refusal text parts, tool_calls
// functionCall parts with their id. finish_reason stop and tool_calls are
// STOP, length MAX_TOKENS, content_filter SAFETY, anything else OTHER.
// usage: completion tokens less reasoning tokens are candidatesTokenCount,
// reasoning tokens thoughtsTokenCount (Gemini counts thoughts apart),
// cached tokens (prompt_tokens_details.cached_tokens, or DeepSeek's
// prompt_cache_hit_tokens) cachedContentTokenCount. modelVersion is the
// model the client asked for; responseId is the completion's id.
//
// Stream turns an OpenAI SSE stream into Gemini SSE events as it arrives
// (see Stream). Error turns a provider's error body into Gemini's error
// shape with gemini.ErrorBody.
package fromopenai
