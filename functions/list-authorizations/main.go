// Command list-authorizations is the Lambda function ListAuthorizationsFunction, serving GET /api/v1/passport/authorizations.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("ListAuthorizationsFunction") }
