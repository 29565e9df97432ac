package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The file upload scenario: one resumable upload of cfg.uploadSize bytes,
// sent as a single "upload, finalize" leg from a generated reader, through a
// fresh Caddy process per target (gemini_balance, and a bare reverse_proxy
// for comparison), while the process's VmRSS is sampled.

// uploadOutcome is what one upload through one target showed.
type uploadOutcome struct {
	label               string // "gemini_balance", "bare reverse_proxy", "direct"
	size                int64
	elapsed             time.Duration // from sending the leg to the end of the answer
	before, peak, after int64         // Caddy's VmRSS (0 for direct)
	samples             int
	file                string // the name the answer gave
}

func (u uploadOutcome) mibps() float64 {
	if u.elapsed <= 0 {
		return 0
	}
	return float64(u.size) / (1 << 20) / u.elapsed.Seconds()
}

func (u uploadOutcome) growth() int64 { return u.peak - u.before }

// sizeLabel formats a byte count: "200 MiB", "4 MiB", "1536 KiB", "123 B".
func sizeLabel(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// parseSize reads a byte count: a number with an optional unit (B, KiB, MiB,
// GiB, KB, MB, GB; K, M, G are the binary ones).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult := map[string]float64{"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30,
		"kb": 1e3, "mb": 1e6, "gb": 1e9}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("invalid size unit in %q", s)
	}
	return int64(v * mult), nil
}

// sizeFlag is a flag.Value for byte counts.
type sizeFlag struct{ n *int64 }

func (f sizeFlag) String() string {
	if f.n == nil {
		return ""
	}
	return sizeLabel(*f.n)
}

func (f sizeFlag) Set(s string) error {
	v, err := parseSize(s)
	if err == nil {
		*f.n = v
	}
	return err
}

// patternReader generates size bytes of a fixed pattern without holding them.
type patternReader struct {
	left int64
	off  int
}

var uploadPattern = func() []byte {
	p := make([]byte, 64<<10)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}()

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], uploadPattern[r.off:])
		n += c
		r.off = (r.off + c) % len(uploadPattern)
	}
	r.left -= int64(n)
	return n, nil
}

// fileUpload runs the scenario: the bare reverse_proxy first (the floor),
// then gemini_balance, each in a fresh Caddy; and the stand-in directly, for
// its own speed.
func (b *bench) fileUpload(ctx context.Context) error {
	b.uploads = nil
	size := b.cfg.uploadSize
	want := sha256.New()
	if _, err := io.Copy(want, &patternReader{left: size}); err != nil {
		return err
	}
	wantSum := want.Sum(nil)
	dir := filepath.Join(b.tmp, "upload")
	ports, err := freePorts(4)
	if err != nil {
		return err
	}

	// Direct to the stand-in: its own speed, no Caddy.
	direct, err := b.uploadOnce(ctx, nil, b.up.Root(), floorKey, false, wantSum)
	if err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	direct.label = "direct to the stand-in"
	b.uploads = append(b.uploads, direct)

	// The floor: Caddy's reverse_proxy alone. The stand-in's upload URL
	// names the stand-in; the client sends the leg to the proxy instead.
	bareURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	fp, err := startCaddy(b.bin, filepath.Join(dir, "floor"), "caddy", globalOptions(ports[0])+bareSite(ports[1], b.upHostPort), ports[0], b.caddyEnv)
	if err != nil {
		return err
	}
	b.procs = append(b.procs, fp)
	if err := fp.waitReady(ctx, 30*time.Second, func() bool { return answers(bareURL + "/v1beta/models/" + benchModel) }); err != nil {
		return err
	}
	bare, err := b.uploadOnce(ctx, fp, bareURL, clientToken, true, wantSum)
	fp.stop()
	if err != nil {
		return fmt.Errorf("bare reverse_proxy: %w", err)
	}
	bare.label = "bare reverse_proxy"
	b.uploads = append(b.uploads, bare)

	// gemini_balance, with a pool of 4 keys; the leg goes to the upload URL
	// the proxy rewrote to itself.
	site := poolSite{port: ports[3], pool: "upload", db: filepath.Join(dir, "ours", "upload.db"), baseURL: b.up.URL,
		keys: []string{keyName("Pool", 1), keyName("Pool", 2), keyName("Pool", 3), keyName("Pool", 4)}}
	oursURL := fmt.Sprintf("http://127.0.0.1:%d", ports[3])
	op, err := startCaddy(b.bin, filepath.Join(dir, "ours"), "caddy", globalOptions(ports[2])+site.caddyfile(), ports[2], b.caddyEnv)
	if err != nil {
		return err
	}
	b.procs = append(b.procs, op)
	defer op.stop()
	if err := op.waitReady(ctx, 30*time.Second, func() bool { return healthKeys(oursURL) >= 4 }); err != nil {
		return err
	}
	ours, err := b.uploadOnce(ctx, op, oursURL, clientToken, false, wantSum)
	if err != nil {
		return fmt.Errorf("gemini_balance: %w", err)
	}
	ours.label = "gemini_balance"
	b.uploads = append(b.uploads, ours)
	b.up.Reset()

	sl := sizeLabel(size)
	for _, u := range []uploadOutcome{ours, bare} {
		b.rep.fact(fmt.Sprintf("file upload, %s in one leg, %s: Caddy RSS before / peak during / after; throughput", sl, u.label),
			"%s / %s (+%s, %d samples) / %s; %.0f MiB/s (%s)", mib(u.before), mib(u.peak), mib(u.growth()), u.samples, mib(u.after),
			u.mibps(), u.elapsed.Round(time.Millisecond))
	}
	b.rep.fact(fmt.Sprintf("file upload, %s in one leg, direct to the stand-in: throughput", sl), "%.0f MiB/s (%s)",
		direct.mibps(), direct.elapsed.Round(time.Millisecond))
	return ctx.Err()
}

// uploadOnce starts a resumable upload at base (a Caddy, or the stand-in's
// root when p is nil), sends the whole file as one "upload, finalize" leg
// to the upload URL (with rewrite, to base with the URL's path and query;
// otherwise the URL must point at base), sampling p's VmRSS every 20 ms, and checks that the
// answer names a file and that the stand-in got every byte.
func (b *bench) uploadOnce(ctx context.Context, p *caddyProc, base, token string, rewrite bool, wantSum []byte) (uploadOutcome, error) {
	size := b.cfg.uploadSize
	out := uploadOutcome{size: size}
	// A client of its own: no connection of the load scenarios is reused.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Minute}

	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/upload/v1beta/files", strings.NewReader(`{"file":{"displayName":"bench upload"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Goog-Api-Key", token)
	req.Header.Set("X-Goog-Upload-Protocol", "resumable")
	req.Header.Set("X-Goog-Upload-Command", "start")
	req.Header.Set("X-Goog-Upload-Header-Content-Length", strconv.FormatInt(size, 10))
	req.Header.Set("X-Goog-Upload-Header-Content-Type", "application/octet-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return out, fmt.Errorf("start: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	uploadURL := resp.Header.Get("X-Goog-Upload-Url")
	if resp.StatusCode != http.StatusOK || uploadURL == "" {
		return out, fmt.Errorf("start: status %d, upload URL %q: %s", resp.StatusCode, uploadURL, firstLine(string(body)))
	}
	u, err := url.Parse(uploadURL)
	if err != nil {
		return out, fmt.Errorf("start: upload URL %q: %w", uploadURL, err)
	}
	switch {
	case rewrite:
		// The bare reverse_proxy passes the stand-in's URL on as it is:
		// send the leg to the proxy, with the same path and query.
		uploadURL = base + u.RequestURI()
	case !strings.HasPrefix(uploadURL, base+"/"):
		return out, fmt.Errorf("start: the upload URL %q does not point at %s", uploadURL, base)
	}

	if p != nil {
		b.cl.tr.CloseIdleConnections()
		time.Sleep(200 * time.Millisecond)
		out.before = p.memory().rss
	}
	var (
		wg   sync.WaitGroup
		stop = make(chan struct{})
		mu   sync.Mutex
	)
	if p != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if r := p.memory().rss; r > 0 {
						mu.Lock()
						out.samples++
						out.peak = max(out.peak, r)
						mu.Unlock()
					}
				}
			}
		}()
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, uploadURL, &patternReader{left: size})
	req.ContentLength = size
	req.Header.Set("X-Goog-Api-Key", token)
	req.Header.Set("X-Goog-Upload-Command", "upload, finalize")
	req.Header.Set("X-Goog-Upload-Offset", "0")
	start := time.Now()
	resp, err = hc.Do(req)
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	out.elapsed = time.Since(start)
	close(stop)
	wg.Wait()
	if p != nil {
		out.after = p.memory().rss
		out.peak = max(out.peak, out.before, out.after)
	}
	if err != nil {
		return out, fmt.Errorf("upload to %s: %w", uploadURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("upload: status %d: %s", resp.StatusCode, firstLine(string(body)))
	}
	var answer struct {
		File struct {
			Name      string `json:"name"`
			SizeBytes string `json:"sizeBytes"`
		} `json:"file"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || !strings.HasPrefix(answer.File.Name, "files/") {
		return out, fmt.Errorf("upload: the answer names no file: %s", firstLine(string(body)))
	}
	out.file = answer.File.Name
	if got := b.up.UploadedBytes(out.file); got != size {
		return out, fmt.Errorf("upload: the stand-in counted %d bytes of %d (answer's sizeBytes %q)", got, size, answer.File.SizeBytes)
	}
	if answer.File.SizeBytes != "" && answer.File.SizeBytes != strconv.FormatInt(size, 10) {
		return out, fmt.Errorf("upload: the answer's sizeBytes is %s, want %d", answer.File.SizeBytes, size)
	}
	if sum := b.up.FileSHA256(out.file); !bytes.Equal(sum, wantSum) {
		return out, errors.New("upload: the stand-in got other bytes than were sent")
	}
	return out, nil
}
