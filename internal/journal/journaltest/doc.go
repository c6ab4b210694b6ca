// Package journaltest makes, for the tests of the journal and of the
// command that reads it, the files a journal folder may hold that are not
// journals: FIFOs, sockets, devices, directories, and links to them, to
// nothing or to themselves, and files that cannot be read. Both test the
// same kinds this way, each with what it expects of them.
package journaltest
