// Command fallback is the Lambda function FallbackFunction, serving the $default route (404 and 405 in the envelope).
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("FallbackFunction") }
