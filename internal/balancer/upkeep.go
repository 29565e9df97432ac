package balancer

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// upkeepEvery is how often old logs are purged.
const upkeepEvery = time.Hour

// capEvery is how often the log row caps are checked. Hourly would let a
// busy pool overshoot by an hour of rows (43 M at 12,000 requests a second);
// a check under the cap costs two primary-key lookups, and one at the cap a
// read of the pool's rollups (request logs) or an index count (error logs).
var capEvery = time.Minute // a variable for the tests

// upkeepLoop purges logs past their retention, at start and then hourly, and
// caps them by rows, at start and then every capEvery.
func (b *Balancer) upkeepLoop() {
	defer b.wg.Done()
	if b.store == nil {
		return
	}
	hourly := time.NewTicker(upkeepEvery)
	defer hourly.Stop()
	often := time.NewTicker(capEvery)
	defer often.Stop()
	purge := true
	for {
		if purge {
			b.PurgeOldLogs(context.Background())
			b.PurgeResources(context.Background())
		}
		b.CapLogs(context.Background())
		select {
		case <-b.stop:
			return
		case <-hourly.C:
			purge = true
		case <-often.C:
			purge = false
		}
	}
}

// PurgeOldLogs deletes error and request logs older than the retention
// settings (0 days keeps them) and reports how many went.
func (b *Balancer) PurgeOldLogs(ctx context.Context) (errorLogs, requestLogs int64) {
	if b.store == nil {
		return 0, 0
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	set := b.Settings()
	now := b.now()
	var err error
	if set.ErrorLogDays > 0 {
		if errorLogs, err = b.store.PurgeErrorLogs(ctx, now.AddDate(0, 0, -set.ErrorLogDays)); err != nil {
			b.dbFailed(b.logger.Warn, "cannot purge old error logs", zap.Error(err))
		}
	}
	if set.RequestLogDays > 0 {
		before := now.AddDate(0, 0, -set.RequestLogDays)
		if requestLogs, err = b.store.PurgeRequestLogs(ctx, before); err != nil {
			b.dbFailed(b.logger.Warn, "cannot purge old request logs", zap.Error(err))
		}
		if _, err = b.store.PurgeRollups(ctx, before); err != nil {
			b.dbFailed(b.logger.Warn, "cannot purge old request statistics", zap.Error(err))
		}
	}
	if errorLogs+requestLogs > 0 {
		b.logger.Info("purged old logs", zap.String("pool", b.name), zap.Int64("error_logs", errorLogs), zap.Int64("request_logs", requestLogs))
	}
	return errorLogs, requestLogs
}

// CapLogs deletes the pool's oldest error and request logs beyond
// error_log_max_rows and request_log_max_rows (0 keeps them) and reports how
// many went. The rollups keep counting the deleted request logs, so the
// dashboard's day and month figures do not change.
func (b *Balancer) CapLogs(ctx context.Context) (errorLogs, requestLogs int64) {
	if b.store == nil {
		return 0, 0
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	set := b.Settings()
	var err error
	if errorLogs, err = b.store.CapErrorLogs(ctx, b.name, int64(set.ErrorLogMaxRows)); err != nil {
		b.dbFailed(b.logger.Warn, "cannot cap error logs", zap.Error(err))
	}
	if requestLogs, err = b.store.CapRequestLogs(ctx, b.name, int64(set.RequestLogMaxRows)); err != nil {
		b.dbFailed(b.logger.Warn, "cannot cap request logs", zap.Error(err))
	}
	if errorLogs+requestLogs > 0 {
		b.logger.Info("deleted logs beyond the row caps", zap.String("pool", b.name),
			zap.Int64("error_logs", errorLogs), zap.Int64("request_logs", requestLogs))
	}
	return errorLogs, requestLogs
}
