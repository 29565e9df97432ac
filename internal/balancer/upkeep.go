package balancer

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// upkeepEvery is how often old logs are purged.
const upkeepEvery = time.Hour

// upkeepLoop purges logs past their retention, at start and then hourly.
func (b *Balancer) upkeepLoop() {
	defer b.wg.Done()
	if b.store == nil {
		return
	}
	t := time.NewTicker(upkeepEvery)
	defer t.Stop()
	for {
		b.PurgeOldLogs(context.Background())
		b.PurgeResources(context.Background())
		select {
		case <-b.stop:
			return
		case <-t.C:
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
			b.logger.Warn("cannot purge old error logs", zap.Error(err))
		}
	}
	if set.RequestLogDays > 0 {
		before := now.AddDate(0, 0, -set.RequestLogDays)
		if requestLogs, err = b.store.PurgeRequestLogs(ctx, before); err != nil {
			b.logger.Warn("cannot purge old request logs", zap.Error(err))
		}
		if _, err = b.store.PurgeRollups(ctx, before); err != nil {
			b.logger.Warn("cannot purge old request statistics", zap.Error(err))
		}
	}
	if errorLogs+requestLogs > 0 {
		b.logger.Info("purged old logs", zap.String("pool", b.name), zap.Int64("error_logs", errorLogs), zap.Int64("request_logs", requestLogs))
	}
	return errorLogs, requestLogs
}
