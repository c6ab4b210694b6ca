// Package pricetable reads price tables of LLM calls, the files of
// CRSTEL_LLM_PRICES: package genai prices calls with them, and
// internal/envconfig checks the file a variable names with the same
// parser, so that a bad file is a Setup error like any bad variable.
package pricetable
