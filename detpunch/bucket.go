package detpunch

import "time"

// Window returns the length of a bucket for a maximum clock error e:
// 2e + 2 s (seed 001).
func Window(e time.Duration) time.Duration { return 2*e + 2*time.Second }

// Bucket returns the seed's bucket of clock time t for a maximum clock
// error e: ⌊(t − e) / Window(e)⌋, with t in Unix time (nanoseconds here,
// so it is exact).
func Bucket(t time.Time, e time.Duration) int64 {
	b, _ := bucketAt(t, e)
	return b
}

// Buckets returns the two buckets a side tries ("double buckets"): the
// seed's own, then the neighbour nearer to t (the one before it in the
// first half of the bucket, the one after it in the second half). In other
// words the buckets ⌊u − ½⌋ and ⌊u + ½⌋ with u = (t − e) / Window(e).
//
// Two clock times at most one window apart share at least one bucket:
// with uA ≤ uB ≤ uA + 1, ⌊uA + ½⌋ lies between ⌊uB − ½⌋ and ⌊uB + ½⌋,
// which are consecutive integers, so it is one of them. Two sides whose
// starts are at most a run window r apart and whose clocks differ by at
// most e read clock times at most r + e apart, which is at most a window
// as long as r ≤ e + 2 s (see [Config]).
func Buckets(t time.Time, e time.Duration) [2]int64 {
	b, rem := bucketAt(t, e)
	if 2*rem < Window(e) {
		return [2]int64{b, b - 1}
	}
	return [2]int64{b, b + 1}
}

// bucketAt returns the bucket of t and how far into it t lies.
func bucketAt(t time.Time, e time.Duration) (int64, time.Duration) {
	w := int64(Window(e))
	u := t.UnixNano() - int64(e)
	b := u / w
	if u%w < 0 {
		b-- // floor, not truncation, before 1970
	}
	return b, time.Duration(u - b*w)
}
