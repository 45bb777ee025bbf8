package app

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// SDK retries. Every AWS call makes at most MaxAttempts attempts, waiting at
// most MaxBackoff before each retry: at most (MaxAttempts-1)*MaxBackoff
// of waiting per call, so a request's few calls fit in its deadline
// (httpapi.RequestBudget) even when every retry waits its longest. The SDK's
// own defaults are 4 attempts for DynamoDB (3 for KMS) and up to 20 s
// between them, longer than a function's 10 s Timeout; AWS_MAX_ATTEMPTS
// could raise them further.
const (
	MaxAttempts = 3
	MaxBackoff  = time.Second
)

// boundRetries returns cfg with the SDK's standard retryer bounded as above.
// Everything else stays the SDK's: which errors it retries (throttling, 5xx,
// broken connections), jittered exponential backoff, and the retry quota
// that stops retrying while most calls fail.
func boundRetries(cfg aws.Config) aws.Config {
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = MaxAttempts
			o.MaxBackoff = MaxBackoff
		})
	}
	cfg.RetryMaxAttempts = MaxAttempts // over AWS_MAX_ATTEMPTS, which the loader copies here
	return cfg
}
