package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The benchmark shares the machine's cores between the client, the stand-in
// and Caddy; anything else running at the same time skews the numbers. These
// samples tell how much CPU other processes took during each scenario.

// ticksPerSecond is USER_HZ, the unit of /proc/stat and /proc/<pid>/stat
// (100 on every Linux architecture Go supports).
const ticksPerSecond = 100

// cpuSample is a reading of the machine's and the benchmark's CPU use.
type cpuSample struct {
	busy, total float64 // seconds, all CPUs, from /proc/stat
	ours        float64 // seconds used by this process, its finished children and the running Caddys
	ok          bool
}

func (b *bench) sampleCPU() cpuSample {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuSample{}
	}
	var v [8]float64
	for i := range v {
		n, _ := strconv.ParseFloat(f[i+1], 64)
		v[i] = n / ticksPerSecond
	}
	// user nice system idle iowait irq softirq steal
	s := cpuSample{ok: true}
	s.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	s.total = s.busy + v[3] + v[4]
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			s.ours += tv(ru.Utime) + tv(ru.Stime)
		}
	}
	for _, p := range b.procs {
		if p.running() {
			s.ours += procCPU(p.pid())
		}
	}
	return s
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// procCPU is the user and system time of a running process, in seconds.
func procCPU(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields start after its ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / ticksPerSecond
}

// othersShare is the share of the machine's CPU capacity that other
// processes used between two samples.
func othersShare(a, b cpuSample) (float64, bool) {
	if !a.ok || !b.ok || b.total <= a.total {
		return 0, false
	}
	others := (b.busy - a.busy) - (b.ours - a.ours)
	return max(0, others/(b.total-a.total)), true
}

// noise keeps the other processes' share per step.
type noise struct {
	steps   []string
	share   []float64
	repeats int // measurements thrown away and taken again
}

func (n *noise) add(step string, a, b cpuSample) {
	if v, ok := othersShare(a, b); ok {
		n.steps = append(n.steps, step)
		n.share = append(n.share, v)
	}
}

func (n *noise) String() string {
	var parts []string
	for i, s := range n.steps {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", s, 100*n.share[i]))
	}
	return strings.Join(parts, ", ")
}

func (n *noise) max() float64 {
	var m float64
	for _, v := range n.share {
		m = max(m, v)
	}
	return m
}
