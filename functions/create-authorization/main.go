// Command create-authorization is the Lambda function CreateAuthorizationFunction, serving POST /api/v1/passport/authorizations.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("CreateAuthorizationFunction") }
