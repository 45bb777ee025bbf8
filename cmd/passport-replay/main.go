// Command passport-replay replays the audit stream batches that the audit
// function gave up on (see internal/auditreplay): from the SQS OnFailure
// queue in AWS, or from the local stack's failure file.
//
//	passport-replay -queue-url URL      # AWS: TABLE_NAME and AWS credentials in the environment
//	passport-replay -file FILE -env F   # local: the endpoints `passport-local run` wrote to F
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/passport-oss/passport/internal/app"
	"github.com/passport-oss/passport/internal/auditreplay"
	"github.com/passport-oss/passport/internal/localstack"
)

func main() {
	file := flag.String("file", "", "local OnFailure file (JSON lines), as `make run` writes it")
	queue := flag.String("queue-url", "", "the AuditFailureQueue URL (a stack output)")
	envFile := flag.String("env", "", "file of KEY=VALUE lines to load first (the local stack's endpoints)")
	flag.Parse()
	if (*file == "") == (*queue == "") {
		fmt.Fprintln(os.Stderr, "passport-replay: give exactly one of -file or -queue-url")
		os.Exit(2)
	}
	if err := run(*file, *queue, *envFile); err != nil {
		fmt.Fprintln(os.Stderr, "passport-replay:", err)
		os.Exit(1)
	}
}

func run(file, queue, envFile string) error {
	if envFile != "" {
		if err := loadEnv(envFile); err != nil {
			return fmt.Errorf("%s: %w (is `make run` running?)", envFile, err)
		}
		localstack.SetLocalAWSDefaults() // the local stack takes any credentials
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := app.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	a, err := app.NewWithAWS(cfg, awsCfg)
	if err != nil {
		return err
	}
	var src auditreplay.Source = auditreplay.FileSource{Path: file}
	if queue != "" {
		src = auditreplay.QueueSource{Client: sqs.NewFromConfig(awsCfg), URL: queue}
	}
	r := &auditreplay.Replayer{Streams: dynamodbstreams.NewFromConfig(awsCfg), Invoke: a.AuditFunction(), Region: awsCfg.Region}
	sum, err := auditreplay.Run(ctx, src, r, func(m auditreplay.Message, n int, err error) {
		b := m.Failure.DDBStreamBatchInfo
		status := "replayed"
		if err != nil {
			status = "FAILED: " + err.Error()
		}
		fmt.Printf("batch %s..%s (shard %s, %d records): %d delivered, %s\n", b.StartSequenceNumber, b.EndSequenceNumber, b.ShardID, b.BatchSize, n, status)
	})
	fmt.Printf("%d batches: %d replayed (%d records), %d failed\n", sum.Messages, sum.Replayed, sum.Records, sum.Failed)
	return err
}

// loadEnv sets each KEY=VALUE line of path that the environment lacks.
func loadEnv(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && !strings.HasPrefix(k, "#") && os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	return sc.Err()
}
