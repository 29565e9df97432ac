package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The open-streams scenario reads, besides RSS, where a Caddy process's
// memory lies (the runtime's own counts, from the admin endpoint's
// /debug/vars) and which allocation sites hold the heap (its heap profile),
// before and while the streams are held, so the report can say what one
// stream costs and where.

// runtimeMem is the part of runtime.MemStats the breakdown uses.
type runtimeMem struct {
	ok                                 bool
	stackInuse, heapInuse, heapAlloc   uint64
	heapIdleKept, other, sys           uint64
	heapLive                           uint64 // HeapAlloc right after a forced GC
	goroutines                         int
	heapSites                          []heapSite // in use after the forced GC, biggest first
	gcPercent                          string
	numGC                              uint32
	heapObjects, heapObjectsLive       uint64
	nextGC                             uint64
	stackSys                           uint64
	mspan, mcache, gcSys, buckh, osys  uint64
	heapReleased, heapIdle, heapSysAll uint64
}

// heapSite is the memory in use that a heap profile puts on one call site.
type heapSite struct {
	site  string
	bytes int64
	objs  int64
}

var pprofClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func (p *caddyProc) adminGet(path string) ([]byte, error) {
	resp, err := pprofClient.Get(fmt.Sprintf("http://localhost:%d%s", p.adminPort, path))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: status %d", path, resp.StatusCode)
	}
	return b, err
}

func (p *caddyProc) memStats() (runtime.MemStats, error) {
	var v struct{ Memstats runtime.MemStats }
	b, err := p.adminGet("/debug/vars")
	if err != nil {
		return v.Memstats, err
	}
	err = json.Unmarshal(b, &v)
	return v.Memstats, err
}

// runtimeMemory reads the runtime's counts, then forces a GC (through the
// heap profile's gc=1) and reads the live heap and its allocation sites.
// It is called after RSS was read: the GC changes what RSS would show. When
// dir is not empty the heap and goroutine profiles are saved there under
// prefix, for go tool pprof.
func (p *caddyProc) runtimeMemory(dir, prefix string) runtimeMem {
	var m runtimeMem
	ms, err := p.memStats()
	if err != nil {
		return m
	}
	m.ok = true
	m.stackInuse, m.stackSys = ms.StackInuse, ms.StackSys
	m.heapInuse, m.heapAlloc, m.heapObjects, m.nextGC, m.numGC = ms.HeapInuse, ms.HeapAlloc, ms.HeapObjects, ms.NextGC, ms.NumGC
	m.heapIdle, m.heapReleased, m.heapSysAll = ms.HeapIdle, ms.HeapReleased, ms.HeapSys
	m.heapIdleKept = ms.HeapIdle - ms.HeapReleased
	m.mspan, m.mcache, m.gcSys, m.buckh, m.osys = ms.MSpanInuse, ms.MCacheInuse, ms.GCSys, ms.BuckHashSys, ms.OtherSys
	m.other = ms.MSpanInuse + ms.MCacheInuse + ms.GCSys + ms.BuckHashSys + ms.OtherSys
	m.sys = ms.Sys
	m.goroutines, _ = p.goroutines()
	heap, err := p.adminGet("/debug/pprof/heap?gc=1&debug=1")
	if err == nil {
		m.heapSites = parseHeapProfile(string(heap))
		if dir != "" {
			_ = os.MkdirAll(dir, 0o755)
			_ = os.WriteFile(filepath.Join(dir, prefix+"heap.txt"), heap, 0o644)
			if raw, err := p.adminGet("/debug/pprof/heap"); err == nil {
				_ = os.WriteFile(filepath.Join(dir, prefix+"heap.pb.gz"), raw, 0o644)
			}
			if g, err := p.adminGet("/debug/pprof/goroutine?debug=1"); err == nil {
				_ = os.WriteFile(filepath.Join(dir, prefix+"goroutine.txt"), g, 0o644)
			}
		}
	}
	if after, err := p.memStats(); err == nil {
		m.heapLive, m.heapObjectsLive = after.HeapAlloc, after.HeapObjects
	}
	return m
}

// parseHeapProfile sums the in-use bytes of a heap profile in its text form
// (debug=1) by allocation site: the first frame outside the runtime, with
// two callers. The text holds the sampled counts: each record is scaled up
// by the sampling rate, as go tool pprof does.
func parseHeapProfile(text string) []heapSite {
	sites := map[string]*heapSite{}
	rate := 512 * 1024.0 // runtime.MemProfileRate's default; the header says
	if _, tail, ok := strings.Cut(text, "@ heap/"); ok {
		if f := strings.Fields(tail); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil && v > 0 {
				rate = v / 2 // the header holds twice the rate
			}
		}
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cur *heapSite
	var frames []string
	flush := func() {
		if cur == nil {
			return
		}
		name := "(unknown)"
		for i, f := range frames {
			if strings.HasPrefix(f, "runtime.") && i+1 < len(frames) {
				continue
			}
			name = f
			for _, caller := range frames[i+1 : min(i+3, len(frames))] {
				name += " ← " + caller
			}
			break
		}
		s := sites[name]
		if s == nil {
			s = &heapSite{site: name}
			sites[name] = s
		}
		s.bytes += cur.bytes
		s.objs += cur.objs
		cur, frames = nil, nil
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "heap profile:"):
		case strings.HasPrefix(line, "#"):
			// "#\t0x4a1b2c\tpkg.Func+0x12\t/path/file.go:123"
			f := strings.Split(line, "\t")
			if cur != nil && len(f) >= 3 {
				fn := f[2]
				if i := strings.LastIndex(fn, "+0x"); i > 0 {
					fn = fn[:i]
				}
				frames = append(frames, shortFunc(fn))
			}
		case strings.Contains(line, " @ "):
			flush()
			// "inuseObjs: inuseBytes [allocObjs: allocBytes] @ pcs"
			head, _, _ := strings.Cut(line, "[")
			objs, bytes, ok := strings.Cut(head, ":")
			if !ok {
				continue
			}
			o, _ := strconv.ParseFloat(strings.TrimSpace(objs), 64)
			n, _ := strconv.ParseFloat(strings.TrimSpace(bytes), 64)
			if n > 0 && o > 0 {
				scale := 1 / (1 - math.Exp(-n/o/rate))
				cur = &heapSite{bytes: int64(n * scale), objs: int64(o*scale + 0.5)}
			}
		case strings.TrimSpace(line) == "":
			flush()
		}
		if strings.HasPrefix(line, "# runtime.MemStats") {
			break
		}
	}
	flush()
	out := make([]heapSite, 0, len(sites))
	for _, s := range sites {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].bytes > out[j].bytes })
	return out
}

// shortFunc drops the module path: github.com/a/b/internal/x.F → x.F.
func shortFunc(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

// streamBreakdown is what one held stream costs a Caddy process.
type streamBreakdown struct {
	label, target        string
	n                    int64
	rssBefore, rssDuring memory
	before, during       runtimeMem
}

// perStream is (during − before) / n, in bytes.
func (s streamBreakdown) perStream(before, during uint64) float64 {
	if s.n == 0 {
		return 0
	}
	return (float64(during) - float64(before)) / float64(s.n)
}

func kib(v float64) string { return fmt.Sprintf("%.1f KiB", v/1024) }

// breakdownSection is the report's per-stream table: one column per Caddy
// and upstream kind, one row per kind of memory.
func breakdownSection(bs []streamBreakdown) string {
	if len(bs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Open streams: what one stream costs\n\n")
	b.WriteString("Per stream = (reading while all streams are held − reading before they were opened) / streams open " +
		"at the reading, from the Caddy process's VmRSS and its runtime's own counts (admin `/debug/vars`, " +
		"read right after RSS, before a forced GC; *live heap* is after it). Goroutine stacks are StackInuse; " +
		"*heap in use* counts spans holding objects, live or garbage not yet swept; *heap kept* is freed heap " +
		"not yet returned to the OS; *runtime other* is span, GC and profiling metadata.\n\n")
	b.WriteString("| per stream |")
	for _, s := range bs {
		fmt.Fprintf(&b, " %s, %s |", s.target, s.label)
	}
	b.WriteString("\n|---|")
	for range bs {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(name string, f func(s streamBreakdown) string) {
		b.WriteString("| " + name + " |")
		for _, s := range bs {
			b.WriteString(" " + f(s) + " |")
		}
		b.WriteString("\n")
	}
	row("RSS", func(s streamBreakdown) string {
		return kib(s.perStream(uint64(s.rssBefore.rss), uint64(s.rssDuring.rss)))
	})
	row("RSS: anonymous (heap, stacks)", func(s streamBreakdown) string {
		return kib(s.perStream(uint64(s.rssBefore.anon), uint64(s.rssDuring.anon)))
	})
	row("RSS: file-backed", func(s streamBreakdown) string {
		return kib(s.perStream(uint64(s.rssBefore.file), uint64(s.rssDuring.file)))
	})
	row("goroutines", func(s streamBreakdown) string {
		return fmt.Sprintf("%.2f", s.perStream(uint64(s.before.goroutines), uint64(s.during.goroutines)))
	})
	mem := func(name string, get func(m runtimeMem) uint64) {
		row(name, func(s streamBreakdown) string {
			if !s.before.ok || !s.during.ok {
				return "—"
			}
			return kib(s.perStream(get(s.before), get(s.during)))
		})
	}
	mem("goroutine stacks", func(m runtimeMem) uint64 { return m.stackInuse })
	row("stack per goroutine", func(s streamBreakdown) string {
		g := float64(s.during.goroutines - s.before.goroutines)
		if g <= 0 {
			return "—"
		}
		return kib((float64(s.during.stackInuse) - float64(s.before.stackInuse)) / g)
	})
	mem("heap in use", func(m runtimeMem) uint64 { return m.heapInuse })
	mem("heap allocated (live + garbage)", func(m runtimeMem) uint64 { return m.heapAlloc })
	mem("live heap (after a forced GC)", func(m runtimeMem) uint64 { return m.heapLive })
	row("live heap objects", func(s streamBreakdown) string {
		return fmt.Sprintf("%.1f", s.perStream(s.before.heapObjectsLive, s.during.heapObjectsLive))
	})
	mem("heap kept (idle, not released)", func(m runtimeMem) uint64 { return m.heapIdleKept })
	mem("runtime other", func(m runtimeMem) uint64 { return m.other })
	mem("all the runtime maps (Sys)", func(m runtimeMem) uint64 { return m.sys })

	b.WriteString("\nBefore the streams (the base the per-stream costs add to): ")
	for i, s := range bs {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s, %s: RSS %s = %s anonymous + %s file-backed, Go heap in use %s", s.target, s.label,
			mib(s.rssBefore.rss), mib(s.rssBefore.anon), mib(s.rssBefore.file), mib(int64(s.before.heapInuse)))
	}
	b.WriteString(".\n")
	for _, s := range bs {
		if len(s.during.heapSites) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\nLive heap by allocation site, %s, %s upstream (heap profile after a forced GC, sampled; "+
			"during − before, per stream; the 12 largest):\n\n", s.target, s.label)
		b.WriteString("| allocation site ← caller | per stream | objects per stream |\n|---|---|---|\n")
		before := map[string]heapSite{}
		for _, h := range s.before.heapSites {
			before[h.site] = h
		}
		type d struct {
			site        string
			bytes, objs float64
		}
		var ds []d
		for _, h := range s.during.heapSites {
			p := before[h.site]
			ds = append(ds, d{h.site, float64(h.bytes-p.bytes) / float64(s.n), float64(h.objs-p.objs) / float64(s.n)})
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i].bytes > ds[j].bytes })
		for i, x := range ds {
			if i == 12 || x.bytes < 16 {
				break
			}
			fmt.Fprintf(&b, "| `%s` | %.0f B | %.2f |\n", x.site, x.bytes, x.objs)
		}
	}
	return b.String()
}

// profilePrefix names a process's saved profiles after its directory, e.g.
// "streams-HTTP11-ours-during-".
func profilePrefix(p *caddyProc, phase string) string {
	d := filepath.Dir(p.logPath)
	return filepath.Base(filepath.Dir(d)) + "-" + filepath.Base(d) + "-" + phase + "-"
}
