"""The packetdrill-dialect conformance runner.

`parser.parse_file` reads a script (lexer, ast); `runner.run_file` plays it against a synack
`Host` on a virtual clock (syscalls, commands, stack) and compares every segment the host sends;
`profile` declares how the script's operating system differs from synack. The command is
`synack run PATH...`.
"""
