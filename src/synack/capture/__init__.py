"""Capture files: streaming pcap/pcapng readers and writers, and the tcpdump-style formatter."""
