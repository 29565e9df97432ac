package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func f64p(f float64) *float64 { return &f }

func TestDecodeSpeech(t *testing.T) {
	long := strings.Repeat("é", MaxSpeechInput)
	for _, tc := range []struct {
		name   string
		body   string
		want   SpeechRequest
		param  string
		errMsg string
	}{
		{name: "minimal", body: `{"model":"tts-1","input":"Hello","voice":"alloy"}`,
			want: SpeechRequest{Model: "tts-1", Input: "Hello", Voice: "alloy", ResponseFormat: "wav"}},
		{name: "all fields", body: `{"model":"gpt-4o-mini-tts","input":"Hi","voice":"Kore","response_format":"pcm","instructions":"Speak cheerfully","speed":1.5,"stream_format":"audio"}`,
			want: SpeechRequest{Model: "gpt-4o-mini-tts", Input: "Hi", Voice: "Kore", ResponseFormat: "pcm", Instructions: "Speak cheerfully", Speed: f64p(1.5), StreamFormat: "audio"}},
		{name: "wav upper", body: `{"input":"x","response_format":"WAV"}`,
			want: SpeechRequest{Input: "x", ResponseFormat: "wav"}},
		{name: "voice object", body: `{"input":"x","voice":{"id":"voice_123"}}`,
			want: SpeechRequest{Input: "x", Voice: "voice_123", ResponseFormat: "wav"}},
		{name: "max length", body: `{"input":"` + long + `"}`,
			want: SpeechRequest{Input: long, ResponseFormat: "wav"}},
		{name: "speed bounds", body: `{"input":"x","speed":0.25}`,
			want: SpeechRequest{Input: "x", ResponseFormat: "wav", Speed: f64p(0.25)}},
		{name: "mp3", body: `{"input":"x","response_format":"mp3"}`, param: "response_format", errMsg: `"mp3" is not supported: Gemini speech is returned as "wav" (the default) or "pcm"`},
		{name: "opus", body: `{"input":"x","response_format":"opus"}`, param: "response_format", errMsg: `"wav"`},
		{name: "aac", body: `{"input":"x","response_format":"aac"}`, param: "response_format", errMsg: `"pcm"`},
		{name: "flac", body: `{"input":"x","response_format":"flac"}`, param: "response_format", errMsg: `"flac" is not supported`},
		{name: "unknown format", body: `{"input":"x","response_format":"ogg"}`, param: "response_format", errMsg: "not supported"},
		{name: "no input", body: `{"voice":"alloy"}`, param: "input", errMsg: "input is required"},
		{name: "blank input", body: `{"input":"  \n"}`, param: "input", errMsg: "input is required"},
		{name: "input type", body: `{"input":5}`, param: "input", errMsg: "want a string"},
		{name: "too long", body: `{"input":"` + long + `x"}`, param: "input", errMsg: "at most 4096"},
		{name: "slow", body: `{"input":"x","speed":0.1}`, param: "speed", errMsg: "between 0.25 and 4"},
		{name: "fast", body: `{"input":"x","speed":4.5}`, param: "speed", errMsg: "between 0.25 and 4"},
		{name: "speed type", body: `{"input":"x","speed":"fast"}`, param: "speed", errMsg: "number"},
		{name: "voice type", body: `{"input":"x","voice":3}`, param: "voice", errMsg: "voice must be a string"},
		{name: "sse", body: `{"input":"x","stream_format":"sse"}`, param: "stream_format", errMsg: "only \"audio\""},
		{name: "not json", body: `hello`, param: "", errMsg: "JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeSpeech([]byte(tc.body))
			if tc.errMsg != "" {
				wantRequestError(t, err, tc.param, tc.errMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Model != tc.want.Model || r.Input != tc.want.Input || r.Voice != tc.want.Voice ||
				r.ResponseFormat != tc.want.ResponseFormat || r.Instructions != tc.want.Instructions ||
				r.StreamFormat != tc.want.StreamFormat || fmt.Sprint(deref64(r.Speed)) != fmt.Sprint(deref64(tc.want.Speed)) {
				t.Errorf("got %+v\nwant %+v", r, tc.want)
			}
		})
	}
}

func deref64(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestMapVoice(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alloy", "Zephyr"}, {"ash", "Orus"}, {"ballad", "Algieba"}, {"coral", "Sulafat"},
		{"echo", "Charon"}, {"fable", "Puck"}, {"onyx", "Algenib"}, {"nova", "Autonoe"},
		{"sage", "Vindemiatrix"}, {"shimmer", "Achernar"}, {"verse", "Sadachbia"},
		{"marin", "Despina"}, {"cedar", "Achird"},
		{"ALLOY", "Zephyr"}, {" nova ", "Autonoe"},
		{"Kore", "Kore"}, {"kore", "Kore"}, {"ZUBENELGENUBI", "Zubenelgenubi"}, {"Puck", "Puck"},
		{"", DefaultVoice}, {"voice_123", DefaultVoice}, {"bob", DefaultVoice},
	} {
		if got := MapVoice(tc.in); got != tc.want {
			t.Errorf("MapVoice(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if len(GeminiVoices) != 30 {
		t.Errorf("%d Gemini voices", len(GeminiVoices))
	}
	for o, g := range openaiVoices {
		if _, ok := geminiVoiceByLower[strings.ToLower(g)]; !ok {
			t.Errorf("%s maps to %q, not a Gemini voice", o, g)
		}
	}
	if MapVoice(DefaultVoice) != DefaultVoice {
		t.Error("default voice is not a Gemini voice")
	}
}

func TestSpeechModel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "gemini-2.5-flash-preview-tts"},
		{"tts-1", "gemini-2.5-flash-preview-tts"},
		{"tts-1-hd", "gemini-2.5-flash-preview-tts"},
		{"gpt-4o-mini-tts", "gemini-2.5-flash-preview-tts"},
		{"gemini-2.5-flash", "gemini-2.5-flash-preview-tts"},
		{"gemini-2.5-pro-preview-tts", "gemini-2.5-pro-preview-tts"},
		{"models/gemini-2.5-flash-preview-tts", "gemini-2.5-flash-preview-tts"},
	} {
		if got := SpeechModel(tc.in, "models/gemini-2.5-flash-preview-tts"); got != tc.want {
			t.Errorf("SpeechModel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSpeechPrompt(t *testing.T) {
	for _, tc := range []struct {
		instructions string
		speed        *float64
		want         string
	}{
		{"", nil, "Hello there"},
		{"", f64p(1), "Hello there"},
		{"", f64p(1.1), "Hello there"},
		{"Say cheerfully", nil, "Say cheerfully: Hello there"},
		{"  Say cheerfully:  ", nil, "Say cheerfully: Hello there"},
		{"", f64p(0.25), "Speak very slowly: Hello there"},
		{"", f64p(0.75), "Speak slowly: Hello there"},
		{"", f64p(1.5), "Speak fast: Hello there"},
		{"", f64p(4), "Speak very fast: Hello there"},
		{"Whisper", f64p(0.8), "Whisper. Speak slowly: Hello there"},
		{"Sound tired.", f64p(2), "Sound tired. Speak very fast: Hello there"},
	} {
		r := &SpeechRequest{Input: "Hello there", Instructions: tc.instructions, Speed: tc.speed}
		if got := SpeechPrompt(r); got != tc.want {
			t.Errorf("SpeechPrompt(%q, %v) = %q, want %q", tc.instructions, deref64(tc.speed), got, tc.want)
		}
	}
}

func TestSpeechToGemini(t *testing.T) {
	for _, tc := range []struct {
		r     *SpeechRequest
		voice string
		want  string
	}{
		{&SpeechRequest{Input: "Hello"}, "Kore",
			`{"contents":[{"role":"user","parts":[{"text":"Hello"}]}],"generationConfig":{"responseModalities":["AUDIO"],"speechConfig":{"voiceConfig":{"prebuiltVoiceConfig":{"voiceName":"Kore"}}}}}`},
		{&SpeechRequest{Input: `Tom & "Jerry" <3`, Instructions: "Say cheerfully"}, "",
			`{"contents":[{"role":"user","parts":[{"text":"Say cheerfully: Tom & \"Jerry\" <3"}]}],"generationConfig":{"responseModalities":["AUDIO"],"speechConfig":{"voiceConfig":{"prebuiltVoiceConfig":{"voiceName":"Zephyr"}}}}}`},
	} {
		if got := string(SpeechToGemini(tc.r, tc.voice)); got != tc.want {
			t.Errorf("\n got %s\nwant %s", got, tc.want)
		}
	}
	r, err := DecodeSpeech([]byte(`{"model":"tts-1","input":"Hi","voice":"nova"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		GenerationConfig struct {
			SpeechConfig struct {
				VoiceConfig struct {
					PrebuiltVoiceConfig struct {
						VoiceName string `json:"voiceName"`
					} `json:"prebuiltVoiceConfig"`
				} `json:"voiceConfig"`
			} `json:"speechConfig"`
		} `json:"generationConfig"`
	}
	if err := json.Unmarshal(SpeechToGemini(r, MapVoice(r.Voice)), &body); err != nil {
		t.Fatal(err)
	}
	if v := body.GenerationConfig.SpeechConfig.VoiceConfig.PrebuiltVoiceConfig.VoiceName; v != "Autonoe" {
		t.Errorf("voice %q", v)
	}
}

// ttsAnswer is a Gemini TTS answer carrying pcm, as the API sends it.
func ttsAnswer(mimeType string, pcm ...[]byte) []byte {
	var parts []string
	for _, p := range pcm {
		parts = append(parts, fmt.Sprintf(`{"inlineData":{"mimeType":%q,"data":%q}}`, mimeType, base64.StdEncoding.EncodeToString(p)))
	}
	return []byte(`{
  "candidates": [
    {
      "content": {"parts": [` + strings.Join(parts, ",") + `], "role": "model"},
      "finishReason": "STOP",
      "index": 0
    }
  ],
  "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 52, "totalTokenCount": 61,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
    "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 52}]},
  "modelVersion": "gemini-2.5-flash-preview-tts",
  "responseId": "abc"
}`)
}

func samples(n int, seed byte) []byte {
	b := make([]byte, 2*n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

func TestSpeechFromGeminiWAV(t *testing.T) {
	pcm := samples(2400, 1) // 0.1 s at 24 kHz
	for _, format := range []string{"wav", ""} {
		audio, ct, err := SpeechFromGemini(ttsAnswer("audio/L16;codec=pcm;rate=24000", pcm), format)
		if err != nil {
			t.Fatal(err)
		}
		if ct != "audio/wav" {
			t.Errorf("content type %q", ct)
		}
		h := readHeader(t, audio)
		want := header{
			riff: "RIFF", riffSize: uint32(36 + len(pcm)), wave: "WAVE",
			fmtID: "fmt ", fmtSize: 16, format: 1, channels: 1,
			rate: 24000, byteRate: 48000, blockAlign: 2, bits: 16,
			dataID: "data", dataSize: uint32(len(pcm)),
		}
		if h != want {
			t.Errorf("header\n got %+v\nwant %+v", h, want)
		}
		if len(audio) != 44+len(pcm) || !bytes.Equal(audio[44:], pcm) {
			t.Error("PCM data changed")
		}
	}
}

func TestSpeechFromGeminiPCMAndRates(t *testing.T) {
	a, b := samples(10, 1), samples(6, 100)
	for _, tc := range []struct {
		name, mime     string
		parts          [][]byte
		format         string
		wantCT         string
		rate, channels int
	}{
		{"pcm", "audio/L16;codec=pcm;rate=24000", [][]byte{a}, "pcm", "audio/pcm", 0, 0},
		{"joined parts", "audio/L16;codec=pcm;rate=24000", [][]byte{a, b}, "pcm", "audio/pcm", 0, 0},
		{"rate from mime", "audio/L16;codec=pcm;rate=16000", [][]byte{a}, "wav", "audio/wav", 16000, 1},
		{"default rate", "audio/L16", [][]byte{a}, "wav", "audio/wav", 24000, 1},
		{"audio/pcm", "audio/pcm;rate=48000;channels=2", [][]byte{a}, "wav", "audio/wav", 48000, 2},
		{"spaces and case", "Audio/L16; codec=pcm; rate=22050", [][]byte{a, b}, "wav", "audio/wav", 22050, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			audio, ct, err := SpeechFromGemini(ttsAnswer(tc.mime, tc.parts...), tc.format)
			if err != nil {
				t.Fatal(err)
			}
			if ct != tc.wantCT {
				t.Errorf("content type %q", ct)
			}
			want := bytes.Join(tc.parts, nil)
			if tc.format == "pcm" {
				if !bytes.Equal(audio, want) {
					t.Errorf("pcm changed: %d bytes, want %d", len(audio), len(want))
				}
				return
			}
			h := readHeader(t, audio)
			frame := 2 * tc.channels
			want = want[:len(want)-len(want)%frame]
			if int(h.rate) != tc.rate || int(h.channels) != tc.channels || int(h.byteRate) != tc.rate*frame || int(h.dataSize) != len(want) || !bytes.Equal(audio[44:], want) {
				t.Errorf("header %+v, %d data bytes", h, len(audio)-44)
			}
		})
	}
}

func TestSpeechFromGeminiWAVBlob(t *testing.T) {
	pcm := samples(50, 3)
	wav := WAV(pcm, 16000, 1)
	body := []byte(`{"candidates":[{"content":{"parts":[{"inline_data":{"mime_type":"audio/wav","data":"` + base64.StdEncoding.EncodeToString(wav) + `"}}]}}]}`)
	audio, ct, err := SpeechFromGemini(body, "pcm")
	if err != nil || ct != "audio/pcm" || !bytes.Equal(audio, pcm) {
		t.Errorf("pcm from wav blob: %v %q %d bytes", err, ct, len(audio))
	}
	audio, _, err = SpeechFromGemini(body, "wav")
	if err != nil || !bytes.Equal(audio, wav) {
		t.Errorf("wav from wav blob: %v", err)
	}
}

func TestSpeechFromGeminiErrors(t *testing.T) {
	pcm := samples(4, 0)
	// A 32-bit float WAV (format tag 3).
	floatWAV := append(WAVHeader(4, 24000, 1, 32), 0, 0, 0, 0)
	floatWAV[20] = 3
	for _, tc := range []struct {
		name, body, format  string
		request             bool
		param, code, substr string
	}{
		{name: "not json", body: `<html>`, format: "wav", substr: "not valid JSON"},
		{name: "no candidates", body: `{"candidates":[]}`, format: "wav", substr: "no candidates"},
		{name: "text instead of audio", body: `{"candidates":[{"content":{"parts":[{"text":"I can't do that"}]},"finishReason":"OTHER"}]}`, format: "wav", substr: "no audio (finishReason OTHER); it answered text instead: I can't do that"},
		{name: "empty content", body: `{"candidates":[{"finishReason":"MAX_TOKENS"}]}`, format: "pcm", substr: "no audio (finishReason MAX_TOKENS)"},
		{name: "prompt blocked", body: `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}`, format: "wav", request: true, param: "input", code: "content_policy_violation", substr: "PROHIBITED_CONTENT"},
		{name: "finish safety", body: `{"candidates":[{"finishReason":"SAFETY"}]}`, format: "wav", request: true, param: "input", code: "content_policy_violation", substr: "SAFETY"},
		{name: "bad base64", body: `{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"audio/L16;rate=24000","data":"%%%"}}]}}]}`, format: "wav", substr: "not valid base64"},
		{name: "mp3 blob", body: string(ttsAnswer("audio/mpeg", pcm)), format: "wav", substr: `"audio/mpeg"`},
		{name: "bad wav blob", body: string(ttsAnswer("audio/wav", pcm)), format: "wav", substr: "cannot be read"},
		{name: "float wav blob", body: string(ttsAnswer("audio/wav", floatWAV)), format: "wav", substr: "unsupported encoding"},
		{name: "mixed rates", body: `{"candidates":[{"content":{"parts":[` +
			`{"inlineData":{"mimeType":"audio/L16;rate=24000","data":"AAAA"}},` +
			`{"inlineData":{"mimeType":"audio/L16;rate=16000","data":"AAAA"}}]}}]}`, format: "wav", substr: "different formats"},
		{name: "mp3 asked", body: string(ttsAnswer("audio/L16;rate=24000", pcm)), format: "mp3", request: true, param: "response_format", substr: `"wav" or "pcm"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			audio, ct, err := SpeechFromGemini([]byte(tc.body), tc.format)
			if audio != nil || ct != "" {
				t.Error("audio returned with an error")
			}
			if tc.request {
				wantRequestError(t, err, tc.param, tc.substr)
				if re := err.(*RequestError); re.Code != tc.code {
					t.Errorf("code %q, want %q", re.Code, tc.code)
				}
				return
			}
			wantUpstreamError(t, err, tc.substr)
		})
	}
}

func TestSpeechContentType(t *testing.T) {
	if (&SpeechRequest{ResponseFormat: "wav"}).ContentType() != "audio/wav" || (&SpeechRequest{ResponseFormat: "pcm"}).ContentType() != "audio/pcm" {
		t.Error("content types")
	}
}
