package punch

import "errors"

var (
	// ErrConfig reports an unusable configuration.
	ErrConfig = errors.New("punch: invalid configuration")
	// ErrNoPath reports that no path reached the peer.
	ErrNoPath = errors.New("punch: no path to the peer")
	// ErrLost reports a path that came up after another had won.
	ErrLost = errors.New("another path won")
	// ErrNoRelay reports that the server grants no relay.
	ErrNoRelay = errors.New("the server offers no relay")
)
