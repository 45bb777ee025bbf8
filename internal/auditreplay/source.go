package auditreplay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/passport-oss/passport/internal/localstack"
)

// Message is one OnFailure message and how to remove it once replayed.
type Message struct {
	Failure localstack.FailureMessage
	// Done removes the message from its source.
	Done func(context.Context) error
}

// Source yields the failure messages waiting for replay.
type Source interface {
	Messages(ctx context.Context) ([]Message, error)
}

// FileSource is the local stack's OnFailure destination: one JSON message a
// line. Replayed messages are removed from the file.
type FileSource struct{ Path string }

// Messages reads the file; a missing file holds no messages.
func (s FileSource) Messages(context.Context) ([]Message, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var msgs []Message
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var f localstack.FailureMessage
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", s.Path, line, err)
		}
		id := f.RequestContext.RequestID
		msgs = append(msgs, Message{Failure: f, Done: func(context.Context) error { return s.remove(id) }})
	}
	return msgs, sc.Err()
}

// remove drops the message with requestID from the file.
func (s FileSource) remove(requestID string) error {
	b, err := os.ReadFile(s.Path)
	if err != nil {
		return err
	}
	var keep bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		var f localstack.FailureMessage
		if len(bytes.TrimSpace(line)) == 0 || (json.Unmarshal(line, &f) == nil && f.RequestContext.RequestID == requestID) {
			continue
		}
		keep.Write(line)
		keep.WriteByte('\n')
	}
	tmp := s.Path + ".tmp"
	if err := os.WriteFile(tmp, keep.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.Path)
}

// SQSAPI is the part of the SQS client QueueSource uses.
type SQSAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// QueueSource is the deployed OnFailure destination, an SQS queue. A message
// not deleted after a failed replay reappears when its visibility timeout
// ends, for the next run.
type QueueSource struct {
	Client SQSAPI
	URL    string
	// Max is the most messages one run takes (default 100).
	Max int
}

// Messages receives up to Max messages.
func (s QueueSource) Messages(ctx context.Context) ([]Message, error) {
	max := s.Max
	if max <= 0 {
		max = 100
	}
	var msgs []Message
	for len(msgs) < max {
		out, err := s.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(s.URL),
			MaxNumberOfMessages: int32(min(10, max-len(msgs))),
			WaitTimeSeconds:     1,
		})
		if err != nil {
			return msgs, fmt.Errorf("receive from %s: %w", s.URL, err)
		}
		if len(out.Messages) == 0 {
			return msgs, nil
		}
		for _, m := range out.Messages {
			var f localstack.FailureMessage
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &f); err != nil {
				return msgs, fmt.Errorf("message %s: %w", aws.ToString(m.MessageId), err)
			}
			receipt := m.ReceiptHandle
			msgs = append(msgs, Message{Failure: f, Done: func(ctx context.Context) error {
				_, err := s.Client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.URL), ReceiptHandle: receipt})
				return err
			}})
		}
	}
	return msgs, nil
}

// Summary is what a Run did.
type Summary struct {
	Messages, Replayed, Failed, Records int
}

// Run replays every message of src, removing each once replayed; a message
// whose replay fails stays, and the others go on. progress, when set, is
// told of each message.
func Run(ctx context.Context, src Source, r *Replayer, progress func(Message, int, error)) (Summary, error) {
	msgs, err := src.Messages(ctx)
	sum := Summary{Messages: len(msgs)}
	if err != nil {
		return sum, err
	}
	var errs []error
	for _, m := range msgs {
		n, err := r.Replay(ctx, m.Failure.DDBStreamBatchInfo)
		if err == nil {
			err = m.Done(ctx)
		}
		if progress != nil {
			progress(m, n, err)
		}
		sum.Records += n
		if err != nil {
			sum.Failed++
			errs = append(errs, err)
			continue
		}
		sum.Replayed++
	}
	return sum, errors.Join(errs...)
}
