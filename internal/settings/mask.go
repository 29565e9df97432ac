package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/secret"
)

// How options that carry secrets are shown (Option.Show), everywhere:
//
//   - a token (each of allowed_tokens, each value of headers): Ellipsis and
//     at most its last 4 characters, never more than a quarter of it:
//     "sk-live-0123456789abcd" shows as "…abcd", "abcdefgh" as "…gh",
//     "abc" as "…";
//   - a URL (each of proxies, and base_url): its user and password replaced
//     by "***", scheme, host, port and path kept: "http://u:p@host:3128"
//     shows as "http://***@host:3128"; a URL without them shows whole;
//   - auth_token and paid_key: only whether they are set (true or false).
//
// A write may send a shown form back: it stands for the current value it
// masks, so a form edited around masked entries keeps them. A shown form
// that masks no current value is refused, never stored.

// Ellipsis begins every masked token; a token that begins with it cannot
// be set, since it reads as a masked one.
const Ellipsis = "…"

// maskedUser replaces the user and password of a masked URL.
const maskedUser = "***"

// MaskToken is the form of a client token or header value that may be
// shown (secret.MaskToken).
func MaskToken(t string) string { return secret.MaskToken(t) }

// userinfo finds the user and password of a URL: between "://" (or the
// start) and the last "@". It works on text that does not parse, so error
// messages about such text can be masked too.
func userinfo(u string) (start, end int, ok bool) {
	if i := strings.Index(u, "://"); i >= 0 {
		start = i + 3
	}
	at := strings.LastIndex(u[start:], "@")
	if at < 0 {
		return 0, 0, false
	}
	return start, start + at, true
}

// MaskURL is the form of a proxy or upstream URL that may be shown: its
// user and password replaced by "***".
func MaskURL(u string) string {
	start, end, ok := userinfo(u)
	if !ok {
		return u
	}
	return u[:start] + maskedUser + u[end:]
}

func isMaskedURL(u string) bool {
	start, end, ok := userinfo(u)
	return ok && u[start:end] == maskedUser
}

// maskURLError rewrites err, about the URL raw, so it does not show raw's
// user and password.
func maskURLError(raw string, err error) error {
	if err == nil {
		return nil
	}
	masked := MaskURL(raw)
	if masked == raw {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), raw, masked)
	q, mq := strconv.Quote(raw), strconv.Quote(masked)
	msg = strings.ReplaceAll(msg, q[1:len(q)-1], mq[1:len(mq)-1])
	if start, end, _ := userinfo(raw); strings.Contains(msg, raw[start:end]) {
		msg = fmt.Sprintf("%q is not a valid URL", masked)
	}
	return errors.New(msg)
}

// A secretForm is how the values of a masked option show and how a shown
// one is told from a new value in a write.
type secretForm struct {
	noun     string
	mask     func(string) string
	isMasked func(string) bool
}

var (
	tokenForm = &secretForm{noun: "token", mask: MaskToken, isMasked: func(v string) bool { return strings.HasPrefix(v, Ellipsis) }}
	urlForm   = &secretForm{noun: "URL", mask: MaskURL, isMasked: isMaskedURL}
)

func (f *secretForm) unknown(v string) string {
	return fmt.Sprintf("%q is a masked %s that matches no current %s: send the whole %s (a masked form only keeps the value it stands for)",
		v, f.noun, f.noun, f.noun)
}

// unmaskOne maps v, when it is the shown form of cur, back to cur.
func (f *secretForm) unmaskOne(cur, v string) (string, error) {
	if !f.isMasked(v) {
		return v, nil
	}
	if cur != "" && f.mask(cur) == v {
		return cur, nil
	}
	return "", errors.New(f.unknown(v))
}

// unmaskList maps the shown forms in given back to the entries of current
// they mask. Entries that share a shown form are kept when the form is sent
// as often as they are; sent fewer times, which one goes is unclear, and the
// write is refused.
func (f *secretForm) unmaskList(current, given []string) ([]string, error) {
	byForm := map[string][]string{}
	for _, c := range current {
		byForm[f.mask(c)] = append(byForm[f.mask(c)], c)
	}
	used := map[string]int{}
	var problems []string
	out := make([]string, 0, len(given))
	for _, g := range given {
		g = strings.TrimSpace(g)
		if g == "" || !f.isMasked(g) {
			out = append(out, g)
			continue
		}
		cands := byForm[g]
		if len(cands) == 0 {
			problems = append(problems, f.unknown(g))
			continue
		}
		out = append(out, cands[min(used[g], len(cands)-1)])
		used[g]++
	}
	forms := make([]string, 0, len(used))
	for g := range used {
		forms = append(forms, g)
	}
	sort.Strings(forms)
	for _, g := range forms {
		if n := len(byForm[g]); used[g] < n {
			problems = append(problems, fmt.Sprintf("%q stands for %d current %ss: send it %d times to keep them all, or send the whole %ss to keep",
				g, n, f.noun, n, f.noun))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

// unmaskHeaders maps masked header values back to the current value of the
// same header (names compared without regard to case).
func unmaskHeaders(current, given map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(given))
	var problems []string
	for name, v := range given {
		if tv := strings.TrimSpace(v); tokenForm.isMasked(tv) {
			cur, ok := "", false
			for k, c := range current {
				if strings.EqualFold(k, name) {
					cur, ok = c, true
				}
			}
			if !ok || strings.TrimSpace(tokenForm.mask(cur)) != tv {
				problems = append(problems, fmt.Sprintf("%s: %q is a masked value that matches no current value of %s: send the whole value", name, tv, name))
				continue
			}
			v = cur
		}
		out[name] = v
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

// secretOpt is an option shown only as set (true) or not set (false).
// Writing the shown form back keeps the value.
func secretOpt(name, group, help string, field func(*Settings) *string) {
	add(&Option{Name: name, Type: "secret", Group: group, Help: help, Masked: true,
		get:  func(s *Settings) any { return *field(s) },
		mask: func(v any) any { return v.(string) != "" },
		set: func(s *Settings, raw json.RawMessage) error {
			var shown bool
			if json.Unmarshal(raw, &shown) == nil {
				switch isSet := *field(s) != ""; {
				case shown && !isSet:
					return fmt.Errorf("true stands for the current value, but none is set: send the whole value")
				case !shown && isSet:
					return fmt.Errorf(`false stands for no value, but one is set: send "" to clear it, or the whole new value`)
				}
				return nil
			}
			v, err := decode[string](raw, "a string")
			if err != nil {
				return err
			}
			*field(s) = strings.TrimSpace(v)
			return nil
		}})
}
