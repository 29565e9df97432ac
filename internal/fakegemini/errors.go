package fakegemini

import (
	"fmt"
	"hash/fnv"
	"html"
	"strconv"
	"strings"
	"time"
)

const (
	service   = "generativelanguage.googleapis.com"
	rpcPrefix = "type.googleapis.com/google.rpc."
	quotaDocs = "https://ai.google.dev/gemini-api/docs/rate-limits"
)

// errorEnvelope is Google's error body: {"error": {...}}.
type errorEnvelope struct {
	Error *rpcError `json:"error"`
}

// rpcError is a google.rpc.Status as Google's JSON transcoding writes it.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []any  `json:"details,omitempty"`
}

type errorInfo struct {
	Type     string            `json:"@type"`
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata"`
}

type localizedMessage struct {
	Type    string `json:"@type"`
	Locale  string `json:"locale"`
	Message string `json:"message"`
}

type helpLink struct {
	Description string `json:"description"`
	URL         string `json:"url"`
}

type help struct {
	Type  string     `json:"@type"`
	Links []helpLink `json:"links"`
}

type quotaViolation struct {
	QuotaMetric     string            `json:"quotaMetric"`
	QuotaID         string            `json:"quotaId"`
	QuotaDimensions map[string]string `json:"quotaDimensions"`
	QuotaValue      string            `json:"quotaValue,omitempty"`
}

type quotaFailure struct {
	Type       string           `json:"@type"`
	Violations []quotaViolation `json:"violations"`
}

type retryInfo struct {
	Type       string `json:"@type"`
	RetryDelay string `json:"retryDelay"`
}

type fieldViolation struct {
	Field       string `json:"field,omitempty"`
	Description string `json:"description"`
}

type badRequest struct {
	Type            string           `json:"@type"`
	FieldViolations []fieldViolation `json:"fieldViolations"`
}

func newErrorInfo(reason string, metadata map[string]string) errorInfo {
	if metadata == nil {
		metadata = map[string]string{}
	}
	metadata["service"] = service
	return errorInfo{Type: rpcPrefix + "ErrorInfo", Reason: reason, Domain: "googleapis.com", Metadata: metadata}
}

func newLocalized(msg string) localizedMessage {
	return localizedMessage{Type: rpcPrefix + "LocalizedMessage", Locale: "en-US", Message: msg}
}

// projectNumber is a stable fake Cloud project number for a key.
func projectNumber(key string) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	return strconv.FormatUint(100000000000+h.Sum64()%900000000000, 10)
}

// behaviorError is the error answer for a failing behavior.
// method is the RPC method of the route, named by ServiceBlocked.
func behaviorError(b Behavior, key, referer, model, retryDelay, method string) *rpcError {
	project := projectNumber(key)
	consumer := map[string]string{"consumer": "projects/" + project}
	switch b {
	case Invalid, Expired:
		msg := "API key not valid. Please pass a valid API key."
		if b == Expired {
			msg = "API key expired. Please renew the API key."
		}
		return &rpcError{400, msg, "INVALID_ARGUMENT", []any{
			newErrorInfo("API_KEY_INVALID", nil), newLocalized(msg)}}
	case Suspended:
		return &rpcError{403, "Permission denied: Consumer 'api_key:" + key + "' has been suspended.",
			"PERMISSION_DENIED", []any{newErrorInfo("CONSUMER_SUSPENDED", consumer)}}
	case ServiceDisabled:
		url := "https://console.developers.google.com/apis/api/" + service + "/overview?project=" + project
		msg := "Generative Language API has not been used in project " + project +
			" before or it is disabled. Enable it by visiting " + url +
			" then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."
		return &rpcError{403, msg, "PERMISSION_DENIED", []any{
			newErrorInfo("SERVICE_DISABLED", map[string]string{
				"activationUrl": url, "consumer": "projects/" + project,
				"containerInfo": project, "serviceTitle": "Generative Language API",
			}),
			newLocalized(msg),
			help{rpcPrefix + "Help", []helpLink{{"Google developers console API activation", url}}},
		}}
	case Unauthenticated:
		return &rpcError{401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
			"UNAUTHENTICATED", []any{newErrorInfo("ACCESS_TOKEN_TYPE_UNSUPPORTED", map[string]string{
				"method": "google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent",
			})}}
	case ReferrerBlocked:
		if referer == "" {
			referer = "<empty>"
		}
		return &rpcError{403, "Requests from referer " + referer + " are blocked.", "PERMISSION_DENIED",
			[]any{newErrorInfo("API_KEY_HTTP_REFERRER_BLOCKED", consumer)}}
	case ServiceBlocked:
		msg := "Requests to this API " + service + " method " + method + " are blocked."
		return &rpcError{403, msg, "PERMISSION_DENIED", []any{
			newErrorInfo("API_KEY_SERVICE_BLOCKED", map[string]string{
				"consumer": "projects/" + project, "methodName": method, "apiName": service,
			}),
			newLocalized(msg),
		}}
	case RateLimited:
		return quotaError(model, "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "10", retryDelay)
	case DailyQuota:
		return quotaError(model, "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "250", "43s")
	case RetryAfterHeader:
		return &rpcError{429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED", nil}
	case ServerError:
		return &rpcError{500, "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", "INTERNAL", nil}
	case Unavailable:
		return &rpcError{503, "The model is overloaded. Please try again later.", "UNAVAILABLE", nil}
	}
	return &rpcError{500, "fakegemini: no error for behavior " + b.String(), "INTERNAL", nil}
}

// quotaError is Google's current free-tier 429: Help, QuotaFailure, RetryInfo.
func quotaError(model, quotaID, limit, retryDelay string) *rpcError {
	const metric = service + "/generate_content_free_tier_requests"
	retryIn := retryDelay
	if d, err := time.ParseDuration(retryDelay); err == nil {
		retryIn = strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
	}
	msg := "You exceeded your current quota, please check your plan and billing details. " +
		"For more information on this error, head to: " + quotaDocs + ". " +
		"To monitor your current usage, head to: https://ai.dev/rate-limit. \n" +
		"* Quota exceeded for metric: " + metric + ", limit: " + limit + ", model: " + model + "\n" +
		"Please retry in " + retryIn + "."
	return &rpcError{429, msg, "RESOURCE_EXHAUSTED", []any{
		help{rpcPrefix + "Help", []helpLink{{"Learn more about Gemini API quotas", quotaDocs}}},
		quotaFailure{rpcPrefix + "QuotaFailure", []quotaViolation{{
			QuotaMetric:     metric,
			QuotaID:         quotaID,
			QuotaDimensions: map[string]string{"location": "global", "model": model},
			QuotaValue:      limit,
		}}},
		retryInfo{rpcPrefix + "RetryInfo", retryDelay},
	}}
}

// fileDenied is Google's answer to a request naming a file (by its id, the
// part of "files/{id}" after the slash) that the key's project does not own
// or that does not exist: no details.
func fileDenied(id string) *rpcError {
	return &rpcError{403, "You do not have permission to access the File " + id + " or it may not exist.", "PERMISSION_DENIED", nil}
}

// cacheDenied is Google's answer to a request naming a cached content the
// key's project does not own or that does not exist: no details.
func cacheDenied() *rpcError {
	return &rpcError{403, "CachedContent not found (or permission denied)", "PERMISSION_DENIED", nil}
}

func unregisteredError() *rpcError {
	return &rpcError{403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "PERMISSION_DENIED", nil}
}

// notFoundModel is the 404 for an unknown model, or one that does not support
// the method.
func notFoundModel(model, method, version string) *rpcError {
	return &rpcError{404, "models/" + model + " is not found for API version " + version +
		", or is not supported for " + method +
		". Call ListModels to see the list of available models and their supported methods.", "NOT_FOUND", nil}
}

// missingThoughtSignature is Gemini 3's answer to a function call of the
// current turn sent back without its thought signature; position is the
// 1-based index of the model content in contents.
func missingThoughtSignature(name string, position int) *rpcError {
	return invalidArgument(fmt.Sprintf("Function call is missing a thought_signature in functionCall parts. "+
		"This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. "+
		"Additional data, function call `default_api:%s` , position %d. "+
		"Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", name, position))
}

func invalidArgument(msg string, violations ...fieldViolation) *rpcError {
	e := &rpcError{400, msg, "INVALID_ARGUMENT", nil}
	if len(violations) > 0 {
		e.Details = []any{badRequest{rpcPrefix + "BadRequest", violations}}
	}
	return e
}

// invalidJSON is Google's answer to a body that is not valid JSON: the
// message quotes the offending line and points at the error with a caret.
func invalidJSON(body []byte, offset int64) *rpcError {
	if offset < 0 || offset > int64(len(body)) {
		offset = int64(len(body))
	}
	start := strings.LastIndexByte(string(body[:offset]), '\n') + 1
	end := len(body)
	if i := strings.IndexByte(string(body[offset:]), '\n'); i >= 0 {
		end = int(offset) + i
	}
	col := int(offset) - start
	if col > 0 {
		col-- // the decoder reports the offset after the offending byte
	}
	msg := fmt.Sprintf("Invalid JSON payload received. Unexpected token.\n%s\n%s^",
		body[start:end], strings.Repeat(" ", col))
	return invalidArgument(msg, fieldViolation{Description: msg})
}

// notFoundPage is Google's HTML 404 for a URL that matches no method.
func notFoundPage(path string) string {
	return `<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">
  <title>Error 404 (Not Found)!!1</title>
  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>
  <p><b>404.</b> <ins>That’s an error.</ins>
  <p>The requested URL <code>` + html.EscapeString(path) + `</code> was not found on this server.  <ins>That’s all we know.</ins>
`
}
