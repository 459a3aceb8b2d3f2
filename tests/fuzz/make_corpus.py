#!/usr/bin/env python3
"""Writes the seed corpus: a few valid messages per protocol, each behind the
5-byte prefix the fuzz driver reads (control byte, four piece sizes; see
fuzz_driver.hpp). Run from anywhere; rewrites corpus/<protocol>/."""
import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent

WHOLE = bytes([0, 255, 255, 255, 255])  # default max_size, big pieces
SMALL = bytes([0, 0, 2, 6, 1])          # default max_size, 1..7-byte pieces
HEAD = bytes([4, 255, 255, 255, 255])   # HTTP: responses answer HEAD first
TIGHT = bytes([2 | (12 << 2), 3, 1, 4, 1])  # max_size 49


def iso(body: bytes) -> bytes:
    return len(body).to_bytes(2, 'big') + body


def mpu(body: bytes) -> bytes:
    return b'%04d' % len(body) + body


def mbap(tid: int, unit: int, pdu: bytes) -> bytes:
    return tid.to_bytes(2, 'big') + b'\0\0' + (len(pdu) + 1).to_bytes(2, 'big') + bytes([unit]) + pdu


SEEDS = {
    'echo': {
        'lines': WHOLE + b'hello\nworld\r\n\n',
        'pieces': SMALL + b'one\ntwo\nthree\n',
        'long': TIGHT + b'x' * 60 + b'\n',
    },
    'iso8583': {
        'two': WHOLE + iso(b'0200\x72\x3a\x00\x01') + iso(b'0210'),
        'pieces': SMALL + iso(b'a' * 40) + iso(b'b'),
        'zero': WHOLE + b'\x00\x00',
    },
    'mpu': {
        'two': WHOLE + mpu(b'hello') + mpu(b'0' * 12),
        'pieces': SMALL + mpu(b'abc') + mpu(b'd' * 30),
        'bad': WHOLE + b'-001x',
    },
    'modbus': {
        'read': WHOLE + mbap(7, 1, b'\x03\x00\x00\x00\x0a') + mbap(8, 1, b'\x03\x02\x00\x2a'),
        'write': SMALL + mbap(0x1234, 17, b'\x10\x00\x01\x00\x02\x04\x00\x0a\x01\x02') + mbap(1, 2, b'\x07'),
        'exception': WHOLE + mbap(9, 1, b'\x83\x0b'),
    },
    'http': {
        'get': WHOLE + b'GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n',
        'post': SMALL + b'POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'
                        b'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
        'chunked': WHOLE + b'POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
                           b'5;name=value\r\nhello\r\n6;q="a b"\r\n world\r\n0\r\nExpires: never\r\n\r\n',
        'responses': WHOLE + b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
                             b'HTTP/1.1 204 No Content\r\n\r\n'
                             b'HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n',
        'head': HEAD + b'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n'
                       b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
        'to_eof': SMALL + b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end',
    },
}

for proto, seeds in SEEDS.items():
    d = HERE / 'corpus' / proto
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for name, data in seeds.items():
        (d / name).write_bytes(data)
