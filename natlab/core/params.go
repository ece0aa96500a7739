package core

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Params are the impairments of one direction of a link. The zero value is
// a perfect link: no delay, no loss, unlimited rate.
type Params struct {
	// Delay is the one-way propagation delay.
	Delay time.Duration `json:"delay,omitempty"`
	// Jitter spreads the delay uniformly over [Delay-Jitter,
	// Delay+Jitter] (never below zero); it does not reorder packets.
	Jitter time.Duration `json:"jitter,omitempty"`
	// Loss, Dup and Reorder are probabilities in [0, 1] that a packet is
	// dropped, duplicated, or held back so that later packets overtake it.
	Loss    float64 `json:"loss,omitempty"`
	Dup     float64 `json:"dup,omitempty"`
	Reorder float64 `json:"reorder,omitempty"`
	// Rate is the link's bit rate; 0 means unlimited.
	Rate int64 `json:"rate,omitempty"`
}

// Set applies one key=value setting: delay, jitter (durations), loss, dup,
// reorder (percentages such as 1% or 0.5%, or fractions such as 0.01),
// rate (tc syntax such as 100mbit or 1gbit; 0 for unlimited).
func (p *Params) Set(key, value string) error {
	var err error
	switch key {
	case "delay":
		p.Delay, err = parseDuration(value)
	case "jitter":
		p.Jitter, err = parseDuration(value)
	case "loss":
		p.Loss, err = ParseProbability(value)
	case "dup":
		p.Dup, err = ParseProbability(value)
	case "reorder":
		p.Reorder, err = ParseProbability(value)
	case "rate":
		p.Rate, err = ParseRate(value)
	default:
		return fmt.Errorf("unknown link setting %q (delay, jitter, loss, dup, reorder, rate)", key)
	}
	if err != nil {
		return fmt.Errorf("%s=%s: %w", key, value, err)
	}
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > time.Minute {
		return 0, fmt.Errorf("want a duration from 0 to 1m, such as 20ms")
	}
	return d, nil
}

// ParseProbability parses "1%", "0.5%" or "0.01" into a probability.
func ParseProbability(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if pct {
		v /= 100
	}
	if err != nil || v < 0 || v > 1 {
		return 0, fmt.Errorf("want a percentage from 0%% to 100%%, such as 1%% or 0.5%%")
	}
	return v, nil
}

// ParseRate parses a rate in tc's syntax (bit or bps, with k, m, g or t
// prefixes) into bits per second; "0" means unlimited.
func ParseRate(s string) (int64, error) {
	if s == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
		{"tbps", 8e12}, {"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(strings.ToLower(s), u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v <= 0 || v*u.mult < 8000 {
				break
			}
			return int64(v * u.mult), nil
		}
	}
	return 0, fmt.Errorf("want a rate such as 100mbit or 1gbit (at least 8kbit)")
}

// String formats p as key=value settings that Set accepts.
func (p Params) String() string {
	var s []string
	if p.Delay != 0 {
		s = append(s, "delay="+p.Delay.String())
	}
	if p.Jitter != 0 {
		s = append(s, "jitter="+p.Jitter.String())
	}
	for _, x := range []struct {
		k string
		v float64
	}{{"loss", p.Loss}, {"dup", p.Dup}, {"reorder", p.Reorder}} {
		if x.v != 0 {
			s = append(s, fmt.Sprintf("%s=%g%%", x.k, x.v*100))
		}
	}
	if p.Rate != 0 {
		s = append(s, fmt.Sprintf("rate=%gmbit", float64(p.Rate)/1e6))
	}
	if len(s) == 0 {
		return "perfect"
	}
	return strings.Join(s, ",")
}
