// Package canned answers AWS SDK calls with recorded responses at the SDK's
// HTTP transport, so that a benchmark runs the whole SDK path (validation,
// serialisation, signing, retries, response decoding and checksums) without
// a network. The recordings in testdata/ are real DynamoDB Local and
// local-kms answers, made by `passport-bench -quick -record
// internal/bench/canned/testdata` (internal/bench); refresh them when what a
// function sends AWS changes. The KMS data key in them came from a
// throwaway local-kms and protects nothing.
package canned

import (
	"bytes"
	"embed"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
)

//go:embed testdata/*.json
var recordings embed.FS

// Responses maps an operation ("DynamoDB.Query", "KMS.GenerateDataKey") to
// the body it is answered with.
type Responses map[string][]byte

// ForFunction returns the responses recorded for a function (its logical id
// in template.yaml): testdata/<function>.<operation>.json.
func ForFunction(functionID string) (Responses, error) {
	files, err := fs.Glob(recordings, "testdata/"+functionID+".*.json")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("canned: no recordings for %s: run passport-bench -record internal/bench/canned/testdata", functionID)
	}
	out := Responses{}
	for _, f := range files {
		b, err := recordings.ReadFile(f)
		if err != nil {
			return nil, err
		}
		op := strings.TrimSuffix(strings.TrimPrefix(f, "testdata/"+functionID+"."), ".json")
		out[op] = b
	}
	return out, nil
}

// Transport is an http.RoundTripper answering every AWS JSON-protocol call
// (DynamoDB, KMS) with its operation's response, as the service would: 200,
// its content type, a request id and, for DynamoDB, the CRC32 the SDK
// checks.
type Transport struct {
	Responses Responses
}

// RoundTrip implements http.RoundTripper. A call without a response is
// answered 400 with the service's error shape, which the SDK returns as an
// error.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		// The request is consumed as the network would.
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	op := operation(r.Header.Get("X-Amz-Target"))
	body, ok := t.Responses[op]
	status := http.StatusOK
	if !ok {
		status = http.StatusBadRequest
		body = []byte(`{"__type":"com.amazon.coral.validate#ValidationException","message":"canned: no response for ` + op + `"}`)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Requestid", "CANNED0000000000000000000000000000000000000000000000")
	if strings.HasPrefix(op, "DynamoDB.") {
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	}
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}

// operation turns an X-Amz-Target into "DynamoDB.Query", "KMS.Decrypt".
func operation(target string) string {
	svc, name, _ := strings.Cut(target, ".")
	svc, _, _ = strings.Cut(svc, "_")
	if svc == "TrentService" {
		svc = "KMS"
	}
	return svc + "." + name
}
