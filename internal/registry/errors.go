package registry

import (
	"fmt"
	"net/http"
)

// Error is a registry error as the REST API reports it: an HTTP status and
// Confluent's error code, written as {"error_code":..., "message":...}.
type Error struct {
	Status  int
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (error code %d)", e.Message, e.Code) }

// The error codes, Confluent's numbering: the HTTP status followed by two
// digits.
const (
	codeSubjectNotFound            = 40401
	codeVersionNotFound            = 40402
	codeSchemaNotFound             = 40403
	codeSubjectSoftDeleted         = 40404
	codeSubjectNotSoftDeleted      = 40405
	codeVersionSoftDeleted         = 40406
	codeVersionNotSoftDeleted      = 40407
	codeSubjectCompatNotConfigured = 40408
	codeSubjectModeNotConfigured   = 40409
	codeIncompatible               = 40901
	codeInvalidSchema              = 42201
	codeInvalidVersion             = 42202
	codeInvalidCompatibility       = 42203
	codeInvalidMode                = 42204
	codeOperationNotPermitted      = 42205
	codeReferenceExists            = 42206
	codeIDMismatch                 = 42207
	codeStoreError                 = 50001
	codeOperationTimeout           = 50002
	codeForwardingFailed           = 50003
)

func newErr(status, code int, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func errSubjectNotFound(s string) *Error {
	return newErr(http.StatusNotFound, codeSubjectNotFound, "Subject '%s' not found.", s)
}

func errVersionNotFound(v int) *Error {
	return newErr(http.StatusNotFound, codeVersionNotFound, "Version %d not found.", v)
}

func errSchemaNotFound(format string, args ...any) *Error {
	return newErr(http.StatusNotFound, codeSchemaNotFound, format, args...)
}

func errInvalidSchema(format string, args ...any) *Error {
	return newErr(http.StatusUnprocessableEntity, codeInvalidSchema, format, args...)
}

func errInvalidVersion(v string) *Error {
	return newErr(http.StatusUnprocessableEntity, codeInvalidVersion,
		"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

func errStore(format string, args ...any) *Error {
	return newErr(http.StatusInternalServerError, codeStoreError, format, args...)
}

func errNotPermitted(format string, args ...any) *Error {
	return newErr(http.StatusUnprocessableEntity, codeOperationNotPermitted, format, args...)
}
