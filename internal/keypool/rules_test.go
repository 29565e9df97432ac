package keypool

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExtractKeys(t *testing.T) {
	a, b := "AIzaSy"+strings.Repeat("A", 33), "AIzaSy"+strings.Repeat("b", 32)+"-"
	text := "first: " + a + "\n\"" + b + "\", and AIzaSyTOOSHORT"
	if got := ExtractKeys(text); !reflect.DeepEqual(got, []string{a, b}) {
		t.Fatalf("ExtractKeys = %q", got)
	}
}

func TestCheckShape(t *testing.T) {
	for s, want := range map[string]string{
		"AIzaSy" + strings.Repeat("x", 33):  "",
		"short":                             "too short to be an API key",
		strings.Repeat("x", 257):            "too long to be an API key",
		"AIzaSy with a space in the middle": "contains spaces or quotes",
		`AIzaSy"quoted"0000000000000`:       "contains spaces or quotes",
	} {
		if got := CheckShape(s); got != want {
			t.Errorf("CheckShape(%.12q) = %q, want %q", s, got, want)
		}
	}
}

func TestMaskLoose(t *testing.T) {
	if got := MaskLoose("short"); got != "*****" {
		t.Errorf("short: %q", got)
	}
	if got := MaskLoose("AIzaSyABCDEFGHIJwxyz"); got != "AIzaSy…wxyz" {
		t.Errorf("long: %q", got)
	}
}

func TestConditionAndMatches(t *testing.T) {
	now := time.Now()
	_, keys := newPool(3)
	keys[1].CoolDown("m", now.Add(time.Minute), "429", "", now)
	keys[2].MarkInvalid("403", "", now)
	for i, want := range []string{"active", "cooling", "invalid"} {
		if got := keys[i].Condition(now); got != want || !ValidCondition(got) {
			t.Errorf("key %d: %q, want %q", i, got, want)
		}
	}
	if ValidCondition("") || ValidCondition("bogus") {
		t.Error("ValidCondition accepts nonsense")
	}
	k := keys[0]
	for q, want := range map[string]bool{
		"":                true,
		k.ID()[:4]:        true,  // ID prefix
		k.Masked()[:8]:    true,  // part of the masked form
		k.Secret()[10:16]: true,  // six characters of the key
		k.Secret()[10:15]: false, // five are not enough
		"nothing-like-it": false,
	} {
		if got := k.Matches(q); got != want {
			t.Errorf("Matches(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	p, keys := newPool(3) // masked AIzaSy…0000, …0001, …0002
	found, notFound, ambiguous := p.Resolve([]string{
		keys[1].Secret(),   // full form
		" " + keys[2].ID(), // ID, trimmed
		keys[1].Masked(),   // masked form of a key already found: once
		"AIzaSyNOSUCHKEY000000000000000000000000",
	})
	if !reflect.DeepEqual(found, []*Key{keys[1], keys[2]}) {
		t.Errorf("found %v", found)
	}
	if !reflect.DeepEqual(notFound, []string{"AIzaSy…0000"}) || len(ambiguous) != 0 {
		t.Errorf("notFound %q ambiguous %q", notFound, ambiguous)
	}
	// Two keys sharing a masked form: the masked form is ambiguous, the full
	// forms are not.
	a := NewKey("AIzaSyAAAA"+strings.Repeat("1", 25)+"wxyz", SourceAdmin)
	b := NewKey("AIzaSyBBBB"+strings.Repeat("2", 25)+"wxyz", SourceAdmin)
	p.Add(a, b)
	found, notFound, ambiguous = p.Resolve([]string{a.Masked(), b.Secret()})
	if !reflect.DeepEqual(found, []*Key{b}) || len(notFound) != 0 || !reflect.DeepEqual(ambiguous, []string{a.Masked()}) {
		t.Errorf("shared mask: found %v notFound %q ambiguous %q", found, notFound, ambiguous)
	}
}
