package relay

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// levelTrace is the slog level of pion's per-packet messages (its Trace
// and Debug), below slog.LevelDebug so that a debug log is not flooded.
const levelTrace = slog.LevelDebug - 4

// pionLogs adapts an slog.Logger to pion's logging.LoggerFactory. pion's
// Info, Warn and Error messages go to Debug: pion logs at those levels
// things a busy relay sees all the time (a full receive queue, a peer
// refused), and this package logs what matters itself.
type pionLogs struct{ log *slog.Logger }

func (p pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{p.log.With("pion", scope)}
}

// pionLogger is one pion scope's logger.
type pionLogger struct{ log *slog.Logger }

func (l pionLogger) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l pionLogger) Trace(msg string)                  { l.logf(levelTrace, "%s", msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.logf(levelTrace, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.logf(levelTrace, "%s", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(levelTrace, format, args...) }
func (l pionLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Error(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }

// orDiscard returns log, or a logger that drops everything if log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
