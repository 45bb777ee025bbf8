// Command delete-provider is the Lambda function DeleteProviderFunction, serving DELETE /api/v1/passport/providers/{id}.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("DeleteProviderFunction") }
