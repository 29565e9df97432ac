package main

import (
	"math"
	"strings"
	"testing"
)

func TestWriterSamples(t *testing.T) {
	top := `File: caddy
Duration: 10.2s, Total samples = 16.50s (161.76%)
      flat  flat%   sum%        cum   cum%
     0.10s  0.61%  0.61%     12.00s 72.73%  net/http.(*conn).serve
         0     0%  0.61%      2.50s 15.15%  github.com/gemini-balance/gemini_balance/internal/store.(*Store).writer
         0     0%  0.61%      2.40s 14.55%  github.com/gemini-balance/gemini_balance/internal/store.(*logWriter).write
`
	total, writer, err := writerSamples(top)
	if err != nil || total != 16.5 || writer != 2.5 {
		t.Fatalf("got %v %v %v", total, writer, err)
	}
	if _, _, err := writerSamples("nothing"); err == nil {
		t.Fatal("no error without samples")
	}
	for in, want := range map[string]float64{"1.5s": 1.5, "450ms": 0.45, "20us": 20e-6} {
		if v, err := seconds(in); err != nil || math.Abs(v-want) > 1e-12 {
			t.Errorf("seconds(%q) = %v, %v", in, v, err)
		}
	}
}

func TestWriterRowFact(t *testing.T) {
	b := &bench{rep: &report{}}
	b.writerRowFact("BenchmarkWriteRequestLogs/keys=4000-2   	     344	  11313951 ns/op	     18922 cpu-ns/row	     21861 ns/row")
	b.writerRowFact("BenchmarkWriteRequestLogsWithout/idx-2   	     344	  11313951 ns/op	     18922 cpu-ns/row")
	if len(b.rep.facts) != 1 || b.rep.facts[0].value != "18.9 µs" || !strings.Contains(b.rep.facts[0].name, "4000 keys") {
		t.Fatalf("facts %+v", b.rep.facts)
	}
}
