// Package anthropic translates Anthropic's Messages API (POST /v1/messages
// and /v1/messages/count_tokens) to Gemini generateContent and back. It does
// no I/O of its own: image and document URLs go through a caller-supplied
// Fetcher.
//
// Request (DecodeRequest, ToGemini):
//
//   - system (a string or text blocks) becomes systemInstruction; user and
//     assistant messages become user and model turns, consecutive turns of
//     one role merged.
//   - Blocks: text; image (base64 as inlineData, url through the Fetcher);
//     document (base64 PDF as inlineData, url through the Fetcher, plain-text
//     and content sources as text); tool_use becomes functionCall {id, name,
//     args}; tool_result becomes functionResponse named after its tool_use,
//     the response {"result": text} or the JSON object the text is, and
//     {"error": text} when is_error; images and documents in a result follow
//     as parts.
//     Files API sources and unknown block types are refused.
//   - thinking and redacted_thinking blocks are not sent back as text: their
//     signature, when this package wrote it ("gemini:" and Gemini's
//     thoughtSignature), goes back as thoughtSignature on the part made from
//     the block that follows (the part Gemini put it on). Signatures from
//     elsewhere (Claude's) are dropped. On Gemini 3 a step's first
//     functionCall without a signature gets Google's documented
//     "skip_thought_signature_validator".
//   - tool_use ids go upstream as functionCall / functionResponse ids without
//     their "toolu_" prefix; ids this package made up ("toolu_gb_" + hex) do
//     not go.
//   - tools become one functionDeclarations tool, input_schema forwarded as
//     parametersJsonSchema (a top-level "$schema" dropped); Anthropic's
//     server and versioned built-in tools (web_search_20250305, ...) are left
//     out. tool_choice auto/any/none map to AUTO/ANY/NONE, tool to ANY with
//     allowedFunctionNames.
//   - max_tokens, temperature, top_p, top_k and stop_sequences map to
//     generationConfig. thinking enabled asks for thoughts with
//     budget_tokens as thinkingBudget (clamped to the model's range; Gemini 3
//     takes thinkingLevel low up to 4096, high above); disabled thinks least
//     (budget 0, or the model's minimum); adaptive asks for thoughts with a
//     dynamic budget. Models that cannot think get no thinkingConfig.
//   - metadata, cache_control and other fields are accepted and ignored.
//
// Model names (MapModel): a claude_models table by prefix, then
// DefaultModels (claude-opus → gemini-2.5-pro, claude-sonnet →
// gemini-2.5-flash, claude-haiku → gemini-2.5-flash-lite), any other
// claude-* → gemini-2.5-flash; other names go as they are.
//
// Response (FromGemini, Stream): thoughts become thinking blocks; text
// becomes text blocks (executable code and its result as fenced text);
// function calls become tool_use blocks with a stable id ("toolu_" and
// Gemini's id, or "toolu_gb_" and 24 hex digits derived from the response id
// and the call's position). A thought signature becomes the signature of
// the thinking block right before the block of the part that carried it (an
// empty thinking block when thoughts were not shown). stop_reason: refusal
// for safety finishes and blocked prompts (with a text block saying so when
// nothing else came), max_tokens, tool_use, else end_turn (Gemini does not
// tell a stop sequence from a natural end). usage: input_tokens without the
// cached tokens, cache_read_input_tokens the cached ones, output_tokens with
// thoughts.
//
// Errors (ErrorBody, FromGoogleError, ErrorEvent):
// {"type":"error","error":{"type","message"}} with the type from the HTTP
// status as Anthropic documents it (503 and 529 are overloaded_error).
package anthropic
