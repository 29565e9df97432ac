package chat

import (
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// mediaSource is where a media part's bytes come from: inline base64 with a
// MIME type, an http(s) URL the Fetcher loads, or a Gemini Files API URI sent
// as fileData.
type mediaSource struct {
	mime    string
	data    string // base64, as the client sent it
	url     string // http(s) to fetch
	fileURI string // https://generativelanguage.googleapis.com/.../files/...
}

var (
	audioFormats = map[string]string{
		"wav": "audio/wav", "mp3": "audio/mp3", "flac": "audio/flac", "ogg": "audio/ogg",
		"aac": "audio/aac", "aiff": "audio/aiff", "m4a": "audio/mp4",
	}
	videoFormats = map[string]string{
		"mp4": "video/mp4", "mov": "video/quicktime", "avi": "video/x-msvideo", "webm": "video/webm",
		"mpeg": "video/mpeg", "mpg": "video/mpeg", "wmv": "video/x-ms-wmv", "flv": "video/x-flv", "3gp": "video/3gpp",
	}
	// extTypes tells a file part's type from its filename when file_data is bare base64.
	extTypes = map[string]string{
		"pdf": "application/pdf", "txt": "text/plain", "md": "text/markdown", "html": "text/html",
		"htm": "text/html", "csv": "text/csv", "json": "application/json", "xml": "text/xml",
		"py": "text/x-python", "js": "text/javascript", "css": "text/css", "rtf": "text/rtf",
		"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
		"gif": "image/gif", "heic": "image/heic", "heif": "image/heif",
		"wav": "audio/wav", "mp3": "audio/mp3", "flac": "audio/flac", "ogg": "audio/ogg", "aac": "audio/aac",
		"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm",
	}
)

// parseDataURL splits "data:<mime>[;params];base64,<data>". Only base64 data
// URLs are accepted: Gemini takes inline data as base64.
func parseDataURL(u string) (*mediaSource, *RequestError) {
	rest, ok := cutPrefixFold(u, "data:")
	if !ok {
		return nil, reqErr("", "not a data: URL")
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, reqErr("", "malformed data: URL (no comma)")
	}
	meta = strings.TrimSpace(meta)
	base, isB64 := cutSuffixFold(meta, ";base64")
	if !isB64 {
		return nil, reqErr("", "data: URL must be base64-encoded (data:<type>;base64,...)")
	}
	mime := gemini.NormMIME(base)
	if mime == "" || !strings.Contains(mime, "/") {
		return nil, reqErr("", "data: URL needs a media type (data:<type>;base64,...)")
	}
	if !gemini.ValidBase64(data) {
		return nil, reqErr("", "data: URL payload is not valid base64")
	}
	return &mediaSource{mime: mime, data: data}, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// isGeminiFileURI reports a Gemini Files API URI: it cannot be fetched without
// a key, so it goes upstream as fileData.
func isGeminiFileURI(u string) bool {
	rest, ok := cutPrefixFold(u, "https://generativelanguage.googleapis.com/")
	return ok && strings.Contains(rest, "files/")
}

func imageSource(u string) (*mediaSource, *RequestError) {
	u = strings.TrimSpace(u)
	switch {
	case hasPrefixFold(u, "data:"):
		return parseDataURL(u)
	case isGeminiFileURI(u):
		return &mediaSource{fileURI: u}, nil
	case hasPrefixFold(u, "http://"), hasPrefixFold(u, "https://"):
		return &mediaSource{url: u}, nil
	}
	return nil, reqErr("", "must be a data: URL or an http(s) URL")
}

func hasPrefixFold(s, prefix string) bool {
	_, ok := cutPrefixFold(s, prefix)
	return ok
}

const (
	audioFormatList = "wav, mp3, flac, ogg, aac, aiff or m4a"
	videoFormatList = "mp4, mov, avi, webm, mpeg, mpg, wmv, flv or 3gp"
)

func mediaFromData(d *MediaData, formats map[string]string, list, field string) (*mediaSource, *RequestError) {
	if d == nil {
		return nil, reqErr(field, "required")
	}
	if hasPrefixFold(d.Data, "data:") {
		src, err := parseDataURL(d.Data)
		if err != nil {
			return nil, err.under(field + ".data")
		}
		return src, nil
	}
	mime, ok := formats[strings.ToLower(d.Format)]
	if !ok {
		return nil, reqErr(field+".format", "unsupported format %q (expected %s)", d.Format, list)
	}
	if !gemini.ValidBase64(d.Data) {
		return nil, reqErr(field+".data", "must be base64")
	}
	return &mediaSource{mime: mime, data: d.Data}, nil
}

func fileSource(f *File) (*mediaSource, *RequestError) {
	if f == nil {
		return nil, reqErr("", "required")
	}
	if f.FileID != "" {
		return nil, reqErr("file_id", "uploaded file ids are not supported; send the file inline as file_data (data:<type>;base64,...)")
	}
	if f.FileData == "" {
		return nil, reqErr("file_data", "required")
	}
	if hasPrefixFold(f.FileData, "data:") {
		src, err := parseDataURL(f.FileData)
		if err != nil {
			return nil, err.under("file_data")
		}
		return src, nil
	}
	ext := ""
	if i := strings.LastIndexByte(f.Filename, '.'); i >= 0 {
		ext = strings.ToLower(f.Filename[i+1:])
	}
	mime, ok := extTypes[ext]
	if !ok {
		return nil, reqErr("file_data", "send a data: URL (data:<type>;base64,...) or a filename whose extension tells the type")
	}
	if !gemini.ValidBase64(f.FileData) {
		return nil, reqErr("file_data", "must be base64")
	}
	return &mediaSource{mime: mime, data: f.FileData}, nil
}
