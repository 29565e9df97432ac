package openai

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// readHeader parses a canonical 44-byte WAV header field by field.
type header struct {
	riff, wave, fmtID, dataID string
	riffSize, fmtSize         uint32
	format, channels          uint16
	rate, byteRate            uint32
	blockAlign, bits          uint16
	dataSize                  uint32
}

func readHeader(t *testing.T, b []byte) header {
	t.Helper()
	if len(b) < 44 {
		t.Fatalf("header is %d bytes", len(b))
	}
	le := binary.LittleEndian
	return header{
		riff: string(b[0:4]), riffSize: le.Uint32(b[4:8]), wave: string(b[8:12]),
		fmtID: string(b[12:16]), fmtSize: le.Uint32(b[16:20]),
		format: le.Uint16(b[20:22]), channels: le.Uint16(b[22:24]),
		rate: le.Uint32(b[24:28]), byteRate: le.Uint32(b[28:32]),
		blockAlign: le.Uint16(b[32:34]), bits: le.Uint16(b[34:36]),
		dataID: string(b[36:40]), dataSize: le.Uint32(b[40:44]),
	}
}

func TestWAVHeader(t *testing.T) {
	for _, tc := range []struct {
		dataLen, rate, channels, bits int
	}{
		{0, 24000, 1, 16},
		{48000, 24000, 1, 16},
		{1000, 16000, 2, 16},
		{300, 44100, 2, 24},
		{12, 8000, 1, 8},
	} {
		h := WAVHeader(tc.dataLen, tc.rate, tc.channels, tc.bits)
		if len(h) != WAVHeaderSize {
			t.Fatalf("header is %d bytes", len(h))
		}
		got := readHeader(t, h)
		block := tc.channels * tc.bits / 8
		want := header{
			riff: "RIFF", riffSize: uint32(36 + tc.dataLen), wave: "WAVE",
			fmtID: "fmt ", fmtSize: 16, format: 1,
			channels: uint16(tc.channels), rate: uint32(tc.rate),
			byteRate: uint32(tc.rate * block), blockAlign: uint16(block), bits: uint16(tc.bits),
			dataID: "data", dataSize: uint32(tc.dataLen),
		}
		if got != want {
			t.Errorf("WAVHeader%v\n got %+v\nwant %+v", tc, got, want)
		}
		// The package's own reader agrees.
		info, err := parseWAV(append(h, make([]byte, tc.dataLen)...))
		if err != nil {
			t.Fatal(err)
		}
		if info.format != 1 || info.channels != tc.channels || info.sampleRate != tc.rate || info.bitsPerSample != tc.bits || len(info.data) != tc.dataLen {
			t.Errorf("parseWAV %+v", info)
		}
	}
	// Sizes past 32 bits are clamped.
	if h := readHeader(t, WAVHeader(1<<33, 24000, 1, 16)); h.dataSize != 0xFFFFFFFF || h.riffSize != 0xFFFFFFFF {
		t.Errorf("clamp: %+v", h)
	}
}

func TestWAV(t *testing.T) {
	pcm := []byte{1, 0, 2, 0, 3, 0, 4} // 3 samples and a stray byte
	w := WAV(pcm, 24000, 1)
	h := readHeader(t, w)
	if h.dataSize != 6 || h.riffSize != 42 || len(w) != 50 || !bytes.Equal(w[44:], pcm[:6]) {
		t.Errorf("WAV: header %+v, %d bytes", h, len(w))
	}
	w = WAV(pcm, 24000, 2) // stereo frames are 4 bytes
	if h := readHeader(t, w); h.dataSize != 4 || h.blockAlign != 4 || h.byteRate != 96000 {
		t.Errorf("stereo: %+v", h)
	}
	if h := readHeader(t, WAV(nil, 24000, 0)); h.channels != 1 || h.dataSize != 0 {
		t.Errorf("empty: %+v", h)
	}
}

func TestParseWAV(t *testing.T) {
	pcm := []byte{9, 0, 8, 0}
	// A LIST chunk (odd size, padded) before data, and a data size a
	// streaming writer left at its maximum.
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(0))
	b.WriteString("WAVE")
	b.Write(WAVHeader(0, 22050, 1, 16)[12:36])
	b.WriteString("LIST")
	binary.Write(&b, binary.LittleEndian, uint32(3))
	b.Write([]byte{'a', 'b', 'c', 0})
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(0xFFFFFFFF))
	b.Write(pcm)
	info, err := parseWAV(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if info.sampleRate != 22050 || !bytes.Equal(info.data, pcm) {
		t.Errorf("got %+v", info)
	}
	for _, bad := range [][]byte{
		nil,
		[]byte("RIFF\x00\x00\x00\x00WAVX"),
		[]byte("RIFF\x00\x00\x00\x00WAVE"),
		append([]byte("RIFF\x00\x00\x00\x00WAVE"), []byte("data\x02\x00\x00\x00\x01\x02")...),
		append([]byte("RIFF\x00\x00\x00\x00WAVE"), []byte("fmt \x04\x00\x00\x00\x01\x00\x01\x00")...),
	} {
		if _, err := parseWAV(bad); err == nil {
			t.Errorf("parseWAV(%q) accepted", bad)
		}
	}
}
