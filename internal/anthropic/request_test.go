package anthropic

import (
	"errors"
	"testing"
)

func TestDecodeRequestErrors(t *testing.T) {
	cases := []struct {
		name, body, field string
	}{
		{"not an object", `[]`, ""},
		{"bad JSON", `{"model":`, ""},
		{"no model", `{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, "model"},
		{"no max_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "max_tokens"},
		{"zero max_tokens", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens"},
		{"max_tokens a string", `{"model":"m","max_tokens":"9","messages":[{"role":"user","content":"hi"}]}`, "max_tokens"},
		{"no messages", `{"model":"m","max_tokens":9}`, "messages"},
		{"bad role", `{"model":"m","max_tokens":9,"messages":[{"role":"system","content":"hi"}]}`, "messages.0.role"},
		{"no content", `{"model":"m","max_tokens":9,"messages":[{"role":"user"}]}`, "messages.0.content"},
		{"content a number", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":3}]}`, "messages.0.content"},
		{"unknown block", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"video"}]}]}`, "messages.0.content.1.type"},
		{"text without text", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages.0.content.0.text"},
		{"image bad type", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AAAA"}}]}]}`, "messages.0.content.0.source.media_type"},
		{"image bad data", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"not base64!"}}]}]}`, "messages.0.content.0.source.data"},
		{"image ftp", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"ftp://x/y.png"}}]}]}`, "messages.0.content.0.source.url"},
		{"image file id", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "messages.0.content.0.source.type"},
		{"document not pdf", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}`, "messages.0.content.0.source.media_type"},
		{"tool_use from user", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]}]}`, "messages.0.content.0.type"},
		{"tool_use input array", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":[]}]}]}`, "messages.1.content.0.input"},
		{"tool_result unknown id", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"nope","content":"x"}]}]}`, "messages.0.content.0.tool_use_id"},
		{"tool_result in assistant", `{"model":"m","max_tokens":9,"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"a"}]}]}`, "messages.0.content.0.type"},
		{"tool_result nested tool_use", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"tool_use"}]}]}]}`, "messages.2.content.0.content.0.type"},
		{"system image", `{"model":"m","max_tokens":9,"system":[{"type":"image"}],"messages":[{"role":"user","content":"hi"}]}`, "system.0"},
		{"tool without schema", `{"model":"m","max_tokens":9,"tools":[{"name":"f"}],"messages":[{"role":"user","content":"hi"}]}`, "tools.0.input_schema"},
		{"tool without name", `{"model":"m","max_tokens":9,"tools":[{"input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}`, "tools.0.name"},
		{"tool_choice unknown tool", `{"model":"m","max_tokens":9,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"g"},"messages":[{"role":"user","content":"hi"}]}`, "tool_choice.name"},
		{"tool_choice bad type", `{"model":"m","max_tokens":9,"tool_choice":{"type":"required"},"messages":[{"role":"user","content":"hi"}]}`, "tool_choice.type"},
		{"thinking small budget", `{"model":"m","max_tokens":9,"thinking":{"type":"enabled","budget_tokens":100},"messages":[{"role":"user","content":"hi"}]}`, "thinking.budget_tokens"},
		{"thinking no budget", `{"model":"m","max_tokens":9,"thinking":{"type":"enabled"},"messages":[{"role":"user","content":"hi"}]}`, "thinking.budget_tokens"},
		{"thinking bad type", `{"model":"m","max_tokens":9,"thinking":{"type":"on"},"messages":[{"role":"user","content":"hi"}]}`, "thinking.type"},
		{"temperature", `{"model":"m","max_tokens":9,"temperature":1.5,"messages":[{"role":"user","content":"hi"}]}`, "temperature"},
		{"top_p", `{"model":"m","max_tokens":9,"top_p":-1,"messages":[{"role":"user","content":"hi"}]}`, "top_p"},
		{"stop_sequences", `{"model":"m","max_tokens":9,"stop_sequences":"x","messages":[{"role":"user","content":"hi"}]}`, "stop_sequences"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(c.body))
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %T %v, want *RequestError", err, err)
			}
			if re.Field != c.field {
				t.Errorf("field %q, want %q (%v)", re.Field, c.field, re)
			}
			if re.Type() != "invalid_request_error" {
				t.Errorf("type %q", re.Type())
			}
			jsonEqual(t, re.Body(), `{"type":"error","error":{"type":"invalid_request_error","message":`+quote(re.Error())+`}}`)
		})
	}
}

func quote(s string) string {
	b, _ := jsonMarshal(s)
	return string(b)
}

func TestDecodeRequestAccepts(t *testing.T) {
	r := mustDecode(t, `{
		"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,
		"metadata":{"user_id":"u"},"service_tier":"auto",
		"system":[{"type":"text","text":"Be terse.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Really."}],
		"messages":[
			{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]},
			{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":  1}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"ok"}],"is_error":true}]}
		],
		"tools":[{"name":"f","description":"F","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search","max_uses":3},{"name":"f","input_schema":{"type":"object"}}],
		"tool_choice":{"type":"auto","disable_parallel_tool_use":true},
		"thinking":{"type":"enabled","budget_tokens":2048},
		"temperature":0.5,"top_p":0.9,"top_k":40,"stop_sequences":["END"]}`)
	if r.Model != "claude-sonnet-4-5" || r.MaxTokens != 1024 || !r.Stream {
		t.Errorf("header fields: %+v", r)
	}
	if len(r.System) != 2 || r.System[0] != "Be terse." {
		t.Errorf("system %q", r.System)
	}
	if len(r.Tools) != 1 || r.Tools[0].Name != "f" {
		t.Errorf("tools %+v: the server tool and the duplicate are left out", r.Tools)
	}
	if r.ToolChoice == nil || r.ToolChoice.Type != "auto" {
		t.Errorf("tool_choice %+v", r.ToolChoice)
	}
	if r.Thinking == nil || r.Thinking.BudgetTokens != 2048 {
		t.Errorf("thinking %+v", r.Thinking)
	}
	tu := r.Messages[1].Content[1]
	if string(tu.Input) != `{"a":1}` {
		t.Errorf("input %s", tu.Input)
	}
	tr := r.Messages[2].Content[0]
	if !tr.IsError || len(tr.Content) != 1 || tr.Content[0].Text != "ok" {
		t.Errorf("tool_result %+v", tr)
	}
	if r.Messages[1].Content[0].Signature != "s" || r.Messages[1].Content[0].Text != "hm" {
		t.Errorf("thinking block %+v", r.Messages[1].Content[0])
	}

	// count_tokens has no max_tokens.
	if _, err := DecodeCountTokensRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)); err != nil {
		t.Errorf("count_tokens: %v", err)
	}
}
