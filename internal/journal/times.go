package journal

import (
	"errors"
	"strings"
	"time"
)

// The range of times RFC 3339, and so encoding/json, can represent: the
// years 0 to 9999.
var (
	minTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	// Between these Unix times, a time is in range in every location: no
	// offset is a day.
	minSafe = minTime.AddDate(0, 0, 1).Unix()
	maxSafe = maxTime.AddDate(0, 0, -1).Unix()
)

// ClampTime returns t if RFC 3339 can represent it, which encoding/json
// requires of a time.Time: if its year, in its location, is within 0 and
// 9999. Otherwise it returns the nearest time that RFC 3339 can represent,
// in UTC: 0000-01-01T00:00:00Z for times before it, and
// 9999-12-31T23:59:59.999999999Z for times after it, such as a deadline
// of context.WithTimeout(ctx, math.MaxInt64). The journal writes times
// this way, and the CLI prints them this way in JSON.
func ClampTime(t time.Time) time.Time {
	switch {
	case t.Unix() > minSafe && t.Unix() < maxSafe:
		return t // the common case, first and fast
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	case t.Year() < 0 || t.Year() > 9999:
		return t.UTC() // in range, but not in its own location
	}
	return t
}

// wireTime is a time in a journal, read by parseTime.
type wireTime struct{ t time.Time }

func (w *wireTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errors.New("time is not a JSON string")
	}
	t, err := parseTime(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	w.t = t
	return nil
}

// parseTime parses an RFC 3339 time. It takes a year outside 0–9999 as
// well, with a sign or more than four digits, as earlier versions wrote for
// a deadline far off: such a time stands for the nearest representable one
// (see [ClampTime]), so that its record is not lost.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		return t, nil
	}
	rest := s
	signed, neg := false, false
	if rest != "" && (rest[0] == '+' || rest[0] == '-') {
		signed, neg, rest = true, rest[0] == '-', rest[1:]
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	digits, rest := rest[:n], rest[n:]
	if n < 4 || n == 4 && !signed {
		return time.Time{}, err // not an extended year: the error stands
	}
	// The rest must be a valid date and time, as it is in a leap year.
	if _, perr := time.Parse(time.RFC3339Nano, "2000"+rest); perr != nil {
		return time.Time{}, err
	}
	year := strings.TrimLeft(digits, "0")
	switch {
	case year == "":
		return time.Parse(time.RFC3339Nano, "0000"+rest)
	case neg:
		return minTime, nil
	case len(year) > 4:
		return maxTime, nil
	}
	return time.Parse(time.RFC3339Nano, strings.Repeat("0", 4-len(year))+year+rest)
}
