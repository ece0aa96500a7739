package udppunch

import "errors"

var (
	// ErrTimeout reports that the peers did not reach each other before
	// the deadline.
	ErrTimeout = errors.New("udppunch: no path to the peer before the deadline")
	// ErrConfig reports an unusable configuration.
	ErrConfig = errors.New("udppunch: invalid configuration")
)
