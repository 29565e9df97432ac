package models

import "testing"

func TestModelVersion(t *testing.T) {
	for name, want := range map[string][3]int{
		"gemini-2.5-flash":       {2, 5, 1},
		"models/gemini-3-pro":    {3, 0, 1},
		"gemini-3.1-pro-preview": {3, 1, 1},
		"gemini-flash-latest":    {0, 0, 0},
		"gemma-3-27b-it":         {0, 0, 0},
		"gemini-":                {0, 0, 0},
		"gemini-2..5":            {0, 0, 0},
	} {
		ma, mi, ok := Version(name)
		okI := 0
		if ok {
			okI = 1
		}
		if [3]int{ma, mi, okI} != want {
			t.Errorf("Version(%q) = %d,%d,%v want %v", name, ma, mi, ok, want)
		}
	}
}
