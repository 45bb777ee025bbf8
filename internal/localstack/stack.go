package localstack

import (
	"context"
	"errors"
	"os"
)

// Local defaults for the AWS SDK when nothing is configured.
var localAWSDefaults = [][2]string{
	{"AWS_REGION", "us-east-1"},
	{"AWS_ACCESS_KEY_ID", "local"},
	{"AWS_SECRET_ACCESS_KEY", "local"},
}

// SetLocalAWSDefaults sets a region and fake credentials in the process
// environment when none are set, so the SDK never reaches for real ones.
func SetLocalAWSDefaults() {
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") != "" {
		os.Setenv("AWS_REGION", os.Getenv("AWS_DEFAULT_REGION"))
	}
	haveCreds := os.Getenv("AWS_ACCESS_KEY_ID") != "" || os.Getenv("AWS_PROFILE") != ""
	for _, kv := range localAWSDefaults {
		if kv[0] != "AWS_REGION" && haveCreds {
			continue
		}
		if os.Getenv(kv[0]) == "" {
			os.Setenv(kv[0], kv[1])
		}
	}
}

// StackOptions configures StartStack.
type StackOptions struct {
	// UseExisting: an AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_KMS already
	// in the environment is used instead of starting that service.
	UseExisting bool
	DynamoDB    DynamoDBOptions
	KMS         KMSOptions
	// CreateKey: also create a symmetric key (Stack.KeyID) on the KMS.
	CreateKey bool
}

// Stack is the set of local AWS services a run or a test run uses.
type Stack struct {
	DynamoDBEndpoint string
	KMSEndpoint      string
	KeyID            string
	// Started lists the services this stack started (and Stop stops).
	Started []*Service
}

// StartStack starts DynamoDB Local and local-kms (or uses the endpoints
// already configured, with UseExisting) and optionally creates a key.
func StartStack(ctx context.Context, opts StackOptions) (*Stack, error) {
	st := &Stack{}
	if ep := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"); opts.UseExisting && ep != "" {
		st.DynamoDBEndpoint = ep
	} else {
		svc, err := StartDynamoDB(ctx, opts.DynamoDB)
		if err != nil {
			return nil, err
		}
		st.Started = append(st.Started, svc)
		st.DynamoDBEndpoint = svc.Endpoint
	}
	if ep := os.Getenv("AWS_ENDPOINT_URL_KMS"); opts.UseExisting && ep != "" {
		st.KMSEndpoint = ep
	} else {
		kmsOpts := opts.KMS
		if kmsOpts.Region == "" {
			kmsOpts.Region = os.Getenv("AWS_REGION")
		}
		svc, err := StartKMS(ctx, kmsOpts)
		if err != nil {
			st.Stop()
			return nil, err
		}
		st.Started = append(st.Started, svc)
		st.KMSEndpoint = svc.Endpoint
	}
	if opts.CreateKey {
		k, err := CreateKey(ctx, st.KMSEndpoint)
		if err != nil {
			st.Stop()
			return nil, err
		}
		st.KeyID = k.ID
	}
	return st, nil
}

// Env returns the variables that point the AWS SDK at the stack (DynamoDB
// Local serves DynamoDB Streams on the same endpoint).
func (st *Stack) Env() map[string]string {
	env := map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB":         st.DynamoDBEndpoint,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS": st.DynamoDBEndpoint,
		"AWS_ENDPOINT_URL_KMS":              st.KMSEndpoint,
	}
	if s := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS"); s != "" && st.DynamoDBEndpoint == os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") {
		env["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"] = s
	}
	if st.KeyID != "" {
		env["PASSPORT_KMS_KEY_ID"] = st.KeyID
	}
	return env
}

// Stop stops every service the stack started.
func (st *Stack) Stop() error {
	if st == nil {
		return nil
	}
	var errs []error
	for i := len(st.Started) - 1; i >= 0; i-- {
		errs = append(errs, st.Started[i].Stop())
	}
	return errors.Join(errs...)
}
