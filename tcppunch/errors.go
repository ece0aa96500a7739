package tcppunch

import "errors"

var (
	// ErrTimeout reports that no connection came up before the deadline.
	ErrTimeout = errors.New("tcppunch: no connection before the deadline")
	// ErrRefused reports that every attempt was answered with RST.
	ErrRefused = errors.New("tcppunch: connection refused")
	// ErrConfig reports an unusable configuration.
	ErrConfig = errors.New("tcppunch: invalid configuration")
)
