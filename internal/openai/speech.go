package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSpeechInput is the longest input, in characters, OpenAI's speech
// endpoint accepts; the same limit applies here.
const MaxSpeechInput = 4096

// Speed bounds of OpenAI's speech endpoint.
const (
	MinSpeechSpeed = 0.25
	MaxSpeechSpeed = 4.0
)

// DefaultSampleRate is the rate of Gemini TTS audio when its mimeType names
// none.
const DefaultSampleRate = 24000

// DefaultVoice is the Gemini voice for an unknown or absent voice.
const DefaultVoice = "Zephyr"

// GeminiVoices are Gemini's 30 prebuilt TTS voices.
var GeminiVoices = []string{
	"Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede",
	"Callirrhoe", "Autonoe", "Enceladus", "Iapetus", "Umbriel", "Algieba",
	"Despina", "Erinome", "Algenib", "Rasalgethi", "Laomedeia", "Achernar",
	"Alnilam", "Schedar", "Gacrux", "Pulcherrima", "Achird", "Zubenelgenubi",
	"Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat",
}

// openaiVoices maps OpenAI's built-in voices to the Gemini voice closest in
// character (Google's one-word descriptions in brackets):
var openaiVoices = map[string]string{
	"alloy":   "Zephyr",       // OpenAI's default, neutral → Gemini's default (bright)
	"ash":     "Orus",         // clear male → firm, male
	"ballad":  "Algieba",      // soft, expressive male → smooth, male
	"coral":   "Sulafat",      // warm, friendly female → warm, female
	"echo":    "Charon",       // calm, resonant male → informative, male
	"fable":   "Puck",         // lively storyteller → upbeat, male
	"onyx":    "Algenib",      // deep male → gravelly, male
	"nova":    "Autonoe",      // bright, energetic female → bright, female
	"sage":    "Vindemiatrix", // calm, measured → gentle, female
	"shimmer": "Achernar",     // soft, clear female → soft, female
	"verse":   "Sadachbia",    // versatile, expressive male → lively, male
	"marin":   "Despina",      // natural female → smooth, female
	"cedar":   "Achird",       // natural, warm male → friendly, male
}

var geminiVoiceByLower = func() map[string]string {
	m := make(map[string]string, len(GeminiVoices))
	for _, v := range GeminiVoices {
		m[strings.ToLower(v)] = v
	}
	return m
}()

// MapVoice is the Gemini prebuilt voice for a requested voice, matched
// without regard to case: a Gemini voice name is used as is (in Gemini's
// spelling); an OpenAI voice maps to the Gemini voice closest in character:
//
//	alloy→Zephyr  ash→Orus  ballad→Algieba  coral→Sulafat  echo→Charon
//	fable→Puck  onyx→Algenib  nova→Autonoe  sage→Vindemiatrix
//	shimmer→Achernar  verse→Sadachbia  marin→Despina  cedar→Achird
//
// Anything else, and no voice, gives DefaultVoice.
func MapVoice(openaiVoice string) string {
	v := strings.ToLower(strings.TrimSpace(openaiVoice))
	if g, ok := geminiVoiceByLower[v]; ok {
		return g
	}
	if g, ok := openaiVoices[v]; ok {
		return g
	}
	return DefaultVoice
}

// SpeechRequest is the body of POST /v1/audio/speech.
type SpeechRequest struct {
	Model          string
	Input          string
	Voice          string // as sent; a {"id": "..."} voice object gives its id
	ResponseFormat string // "wav" or "pcm" once decoded
	Instructions   string
	Speed          *float64
	StreamFormat   string // "" or "audio"
}

// ContentType is the Content-Type of the answer's audio: "audio/wav" or
// "audio/pcm".
func (r *SpeechRequest) ContentType() string { return speechContentType(r.ResponseFormat) }

func speechContentType(format string) string {
	if format == "pcm" {
		return "audio/pcm"
	}
	return "audio/wav"
}

// DecodeSpeech parses and checks a speech request. input is required and at
// most MaxSpeechInput characters. response_format is "wav" (the default here
// when absent: the proxy does not encode mp3) or "pcm"; mp3, opus, aac, flac
// and anything else are refused with a message naming the supported ones.
// speed, when given, is 0.25..4.0. stream_format "sse" is refused. voice may
// be absent (MapVoice gives the default). Every error is a *RequestError.
func DecodeSpeech(body []byte) (*SpeechRequest, error) {
	var w struct {
		Model          string          `json:"model"`
		Input          *string         `json:"input"`
		Voice          json.RawMessage `json:"voice"`
		ResponseFormat string          `json:"response_format"`
		Instructions   string          `json:"instructions"`
		Speed          *float64        `json:"speed"`
		StreamFormat   string          `json:"stream_format"`
	}
	if err := decodeRequest(body, &w); err != nil {
		return nil, err
	}
	if w.Input == nil || strings.TrimSpace(*w.Input) == "" {
		return nil, &RequestError{Param: "input", Message: "input is required: the text to speak"}
	}
	if n := utf8.RuneCountInString(*w.Input); n > MaxSpeechInput {
		return nil, &RequestError{Param: "input", Message: fmt.Sprintf("input is %d characters long; at most %d are allowed", n, MaxSpeechInput)}
	}
	voice, err := decodeVoice(w.Voice)
	if err != nil {
		return nil, err
	}
	format := strings.ToLower(strings.TrimSpace(w.ResponseFormat))
	switch format {
	case "":
		format = "wav"
	case "wav", "pcm":
	default:
		return nil, &RequestError{Param: "response_format", Message: fmt.Sprintf("response_format %q is not supported: Gemini speech is returned as \"wav\" (the default) or \"pcm\" (16-bit little-endian mono, 24 kHz)", w.ResponseFormat)}
	}
	if w.Speed != nil && (*w.Speed < MinSpeechSpeed || *w.Speed > MaxSpeechSpeed) {
		return nil, &RequestError{Param: "speed", Message: fmt.Sprintf("speed must be between %g and %g", MinSpeechSpeed, MaxSpeechSpeed)}
	}
	switch w.StreamFormat {
	case "", "audio":
	default:
		return nil, &RequestError{Param: "stream_format", Message: fmt.Sprintf("stream_format %q is not supported: only \"audio\"", w.StreamFormat)}
	}
	return &SpeechRequest{
		Model:          w.Model,
		Input:          *w.Input,
		Voice:          voice,
		ResponseFormat: format,
		Instructions:   w.Instructions,
		Speed:          w.Speed,
		StreamFormat:   w.StreamFormat,
	}, nil
}

// decodeVoice reads voice as a string or as a custom-voice object {"id": "..."}.
func decodeVoice(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var obj struct {
		ID string `json:"id"`
	}
	if raw[0] == '{' && json.Unmarshal(raw, &obj) == nil {
		return obj.ID, nil
	}
	return "", &RequestError{Param: "voice", Message: "voice must be a string, e.g. \"alloy\" or a Gemini voice such as \"Kore\""}
}

// SpeechModel is the Gemini TTS model for a requested speech model: a
// "gemini-" name containing "tts" is used as asked (without "models/");
// anything else (tts-1, gpt-4o-mini-tts, empty) becomes def.
func SpeechModel(requested, def string) string {
	if m := ModelID(requested); strings.HasPrefix(m, "gemini-") && strings.Contains(m, "tts") {
		return m
	}
	return ModelID(def)
}

// speechPace is the spoken-style phrase for an OpenAI speed; none near 1.0.
func speechPace(speed *float64) string {
	if speed == nil {
		return ""
	}
	switch s := *speed; {
	case s <= 0.5:
		return "Speak very slowly"
	case s < 0.9:
		return "Speak slowly"
	case s >= 2:
		return "Speak very fast"
	case s > 1.1:
		return "Speak fast"
	}
	return ""
}

// SpeechPrompt is the text Gemini TTS is asked to speak: the input, preceded
// by a style directive and ": " when the request has instructions or a speed
// away from 1.0 (Gemini TTS has no field for either; Google's guide steers
// style with such a prefix, e.g. "Say cheerfully: Have a wonderful day!").
func SpeechPrompt(r *SpeechRequest) string {
	directive := strings.TrimRight(strings.TrimSpace(r.Instructions), ": \t\n")
	if pace := speechPace(r.Speed); pace != "" {
		switch {
		case directive == "":
			directive = pace
		case strings.HasSuffix(directive, ".") || strings.HasSuffix(directive, "!") || strings.HasSuffix(directive, "?"):
			directive += " " + pace
		default:
			directive += ". " + pace
		}
	}
	if directive == "" {
		return r.Input
	}
	return directive + ": " + r.Input
}

type speechGenerationConfig struct {
	ResponseModalities []string `json:"responseModalities"`
	SpeechConfig       struct {
		VoiceConfig struct {
			PrebuiltVoiceConfig struct {
				VoiceName string `json:"voiceName"`
			} `json:"prebuiltVoiceConfig"`
		} `json:"voiceConfig"`
	} `json:"speechConfig"`
}

// SpeechToGemini is the generateContent body for a speech request spoken by
// the Gemini voice voice (see MapVoice; empty means DefaultVoice):
//
//	{"contents":[{"role":"user","parts":[{"text":"<SpeechPrompt>"}]}],
//	 "generationConfig":{"responseModalities":["AUDIO"],
//	   "speechConfig":{"voiceConfig":{"prebuiltVoiceConfig":{"voiceName":"Kore"}}}}}
func SpeechToGemini(r *SpeechRequest, voice string) []byte {
	if voice == "" {
		voice = DefaultVoice
	}
	var gc speechGenerationConfig
	gc.ResponseModalities = []string{"AUDIO"}
	gc.SpeechConfig.VoiceConfig.PrebuiltVoiceConfig.VoiceName = voice
	return marshal(struct {
		Contents         []geminiContent        `json:"contents"`
		GenerationConfig speechGenerationConfig `json:"generationConfig"`
	}{
		Contents:         []geminiContent{{Role: "user", Parts: []geminiPart{{Text: SpeechPrompt(r)}}}},
		GenerationConfig: gc,
	})
}

type inlineData struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type speechPart struct {
	Text       string      `json:"text"`
	InlineData *inlineData `json:"inlineData"`
	// snake_case spelling, as some relays write it
	InlineDataSnake *struct {
		MimeType string `json:"mime_type"`
		Data     string `json:"data"`
	} `json:"inline_data"`
}

func (p speechPart) blob() *inlineData {
	if p.InlineData != nil {
		return p.InlineData
	}
	if p.InlineDataSnake != nil {
		return &inlineData{MimeType: p.InlineDataSnake.MimeType, Data: p.InlineDataSnake.Data}
	}
	return nil
}

type speechResponse struct {
	Candidates []struct {
		Content struct {
			Parts []speechPart `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	PromptFeedback struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
}

// blockedFinish are the finish reasons that mean Gemini refused the content.
var blockedFinish = map[string]bool{
	"SAFETY": true, "PROHIBITED_CONTENT": true, "BLOCKLIST": true, "SPII": true,
	"RECITATION": true, "IMAGE_SAFETY": true,
}

// SpeechFromGemini takes the audio out of a Gemini TTS generateContent
// answer: the inlineData parts of the first candidate, base64 16-bit
// little-endian PCM whose mimeType ("audio/L16;codec=pcm;rate=24000") gives
// the rate (default 24000) and channel count (default 1); parts are joined
// in order. format "wav" (or "") answers a WAV file (44-byte header + PCM,
// "audio/wav"); "pcm" the raw samples ("audio/pcm"). An answer Gemini
// blocked is a *RequestError with code "content_policy_violation"; one
// without audio, or not JSON, is an *UpstreamError.
func SpeechFromGemini(body []byte, format string) (audio []byte, contentType string, err error) {
	if format != "" && format != "wav" && format != "pcm" {
		return nil, "", &RequestError{Param: "response_format", Message: fmt.Sprintf("response_format %q is not supported: use \"wav\" or \"pcm\"", format)}
	}
	var resp speechResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, "", &UpstreamError{Message: "the Gemini speech answer is not valid JSON: " + err.Error()}
	}
	if br := resp.PromptFeedback.BlockReason; br != "" {
		return nil, "", &RequestError{Param: "input", Message: "Gemini blocked the input (" + br + ")", Code: "content_policy_violation"}
	}
	if len(resp.Candidates) == 0 {
		return nil, "", &UpstreamError{Message: "Gemini returned no candidates for the speech request"}
	}
	cand := resp.Candidates[0]
	var pcm []byte
	rate, channels := 0, 0
	var text strings.Builder
	for _, p := range cand.Content.Parts {
		text.WriteString(p.Text)
		blob := p.blob()
		if blob == nil || blob.Data == "" {
			continue
		}
		data, r, ch, err := decodeAudio(blob)
		if err != nil {
			return nil, "", err
		}
		if rate != 0 && (r != rate || ch != channels) {
			return nil, "", &UpstreamError{Message: fmt.Sprintf("Gemini returned audio parts in different formats (%d Hz × %d and %d Hz × %d)", rate, channels, r, ch)}
		}
		rate, channels = r, ch
		pcm = append(pcm, data...)
	}
	if rate == 0 {
		if blockedFinish[cand.FinishReason] {
			return nil, "", &RequestError{Param: "input", Message: "Gemini refused to speak the input (finishReason " + cand.FinishReason + ")", Code: "content_policy_violation"}
		}
		msg := "Gemini returned no audio"
		if cand.FinishReason != "" {
			msg += " (finishReason " + cand.FinishReason + ")"
		}
		if t := strings.TrimSpace(text.String()); t != "" {
			msg += "; it answered text instead: " + truncate(t, 200)
		}
		return nil, "", &UpstreamError{Message: msg}
	}
	if format == "pcm" {
		return pcm, speechContentType("pcm"), nil
	}
	return WAV(pcm, rate, channels), speechContentType("wav"), nil
}

// decodeAudio decodes one inlineData blob to 16-bit little-endian PCM with
// its rate and channel count. Gemini sends "audio/L16;codec=pcm;rate=24000"
// (despite the name, little-endian, as Google's guide plays it with ffmpeg
// -f s16le); "audio/pcm" is read the same way and a WAV blob is unwrapped.
func decodeAudio(b *inlineData) (pcm []byte, rate, channels int, err error) {
	data, err := decodeBase64(b.Data)
	if err != nil {
		return nil, 0, 0, &UpstreamError{Message: "Gemini returned audio that is not valid base64"}
	}
	mt, params, perr := mime.ParseMediaType(b.MimeType)
	if perr != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.SplitN(b.MimeType, ";", 2)[0]))
	}
	switch mt {
	case "audio/l16", "audio/pcm", "audio/x-pcm", "audio/s16le", "":
		rate = atoiDefault(params["rate"], DefaultSampleRate)
		channels = atoiDefault(params["channels"], 1)
		return data, rate, channels, nil
	case "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave":
		info, werr := parseWAV(data)
		if werr != nil {
			return nil, 0, 0, &UpstreamError{Message: "Gemini returned a WAV file that cannot be read: " + werr.Error()}
		}
		if info.format != 1 || info.bitsPerSample != 16 {
			return nil, 0, 0, &UpstreamError{Message: fmt.Sprintf("Gemini returned WAV audio in an unsupported encoding (format %d, %d bits)", info.format, info.bitsPerSample)}
		}
		return info.data, info.sampleRate, max(info.channels, 1), nil
	}
	return nil, 0, 0, &UpstreamError{Message: fmt.Sprintf("Gemini returned audio as %q, which this proxy cannot convert", b.MimeType)}
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
		return n
	}
	return def
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
