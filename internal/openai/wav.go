package openai

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
)

// WAVHeaderSize is the size of the canonical RIFF/WAVE header WAVHeader
// writes.
const WAVHeaderSize = 44

// WAVHeader is the canonical 44-byte RIFF/WAVE header of integer PCM audio
// (format tag 1) whose data chunk holds dataLen bytes:
//
//	"RIFF" <36+dataLen> "WAVE"
//	"fmt " 16 <1> <channels> <sampleRate> <byteRate> <blockAlign> <bitsPerSample>
//	"data" <dataLen>
//
// All numbers are little-endian. Sizes that do not fit the 32-bit fields are
// clamped to their maximum.
func WAVHeader(dataLen, sampleRate, channels, bitsPerSample int) []byte {
	blockAlign := channels * ((bitsPerSample + 7) / 8)
	byteRate := sampleRate * blockAlign
	h := make([]byte, 0, WAVHeaderSize)
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, clampU32(36+dataLen))
	h = append(h, "WAVE"...)
	h = append(h, "fmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, 1) // WAVE_FORMAT_PCM
	h = binary.LittleEndian.AppendUint16(h, clampU16(channels))
	h = binary.LittleEndian.AppendUint32(h, clampU32(sampleRate))
	h = binary.LittleEndian.AppendUint32(h, clampU32(byteRate))
	h = binary.LittleEndian.AppendUint16(h, clampU16(blockAlign))
	h = binary.LittleEndian.AppendUint16(h, clampU16(bitsPerSample))
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, clampU32(dataLen))
	return h
}

func clampU32(n int) uint32 {
	if n < 0 {
		return 0
	}
	if uint64(n) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}

func clampU16(n int) uint16 {
	if n < 0 {
		return 0
	}
	if n > math.MaxUint16 {
		return math.MaxUint16
	}
	return uint16(n)
}

// WAV wraps 16-bit little-endian PCM in a WAV file. A trailing partial
// frame is dropped.
func WAV(pcm []byte, sampleRate, channels int) []byte {
	if channels < 1 {
		channels = 1
	}
	frame := 2 * channels
	pcm = pcm[:len(pcm)-len(pcm)%frame]
	out := make([]byte, 0, WAVHeaderSize+len(pcm))
	out = append(out, WAVHeader(len(pcm), sampleRate, channels, 16)...)
	return append(out, pcm...)
}

// wavInfo is what parseWAV reads from a RIFF/WAVE file.
type wavInfo struct {
	format        uint16
	channels      int
	sampleRate    int
	bitsPerSample int
	data          []byte
}

// parseWAV reads the fmt and data chunks of a RIFF/WAVE file. A data chunk
// whose size runs past the end of the file (as streaming writers leave it)
// is cut to what is there.
func parseWAV(b []byte) (*wavInfo, error) {
	if len(b) < 12 || !bytes.Equal(b[0:4], []byte("RIFF")) || !bytes.Equal(b[8:12], []byte("WAVE")) {
		return nil, errors.New("not a RIFF/WAVE file")
	}
	var info wavInfo
	haveFmt := false
	for p := 12; p+8 <= len(b); {
		id := string(b[p : p+4])
		size := int(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		body := b[p+8:]
		if size < 0 || size > len(body) {
			size = len(body)
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, errors.New("WAV fmt chunk is too short")
			}
			info.format = binary.LittleEndian.Uint16(body[0:2])
			info.channels = int(binary.LittleEndian.Uint16(body[2:4]))
			info.sampleRate = int(binary.LittleEndian.Uint32(body[4:8]))
			info.bitsPerSample = int(binary.LittleEndian.Uint16(body[14:16]))
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, errors.New("WAV data chunk comes before its fmt chunk")
			}
			info.data = body
			return &info, nil
		}
		p += 8 + size + size%2 // chunks are padded to even sizes
	}
	return nil, errors.New("WAV file has no data chunk")
}
