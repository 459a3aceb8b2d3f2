#!/usr/bin/env python3
"""Writes the demo videotex pages (*.vdt) next to this script; service.ini,
written by hand, links them. Run after editing a page: /usr/bin/python3
conf/minitel/make_pages.py. Pure 7-bit videotex (STUM 1B): no accents, since
they would need SS2 sequences and the pages are meant to stay readable here.
The engine clears the screen (FF) before a page, so the files do not."""
import pathlib

HERE = pathlib.Path(__file__).resolve().parent

SO, SI, REP, ESC, US = b'\x0e', b'\x0f', b'\x12', b'\x1b', b'\x1f'
NORMAL, DOUBLE_HEIGHT = ESC + b'L', ESC + b'M'
INVERSE, UPRIGHT = ESC + b']', ESC + b'\\'
RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN, WHITE = (ESC + bytes([c]) for c in range(0x41, 0x48))


def at(row: int, col: int = 1) -> bytes:
    """US row col: a new sub-article, attributes back to white normal text."""
    return US + bytes([0x40 + row, 0x40 + col])


def text(s: str) -> bytes:
    return s.encode('ascii')


def rule(row: int, colour: bytes = BLUE) -> bytes:
    """A full-width semigraphic bar: one block repeated 39 more times."""
    return at(row) + colour + SO + b'\x7f' + REP + bytes([0x40 + 39]) + SI


def title(row: int, s: str, colour: bytes = CYAN) -> bytes:
    """Double height: the characters also cover the row above."""
    return at(row, (40 - len(s)) // 2 + 1) + DOUBLE_HEIGHT + colour + text(s) + NORMAL


def key(s: str) -> bytes:
    """A function key name as printed on the Minitel keyboard."""
    return INVERSE + text(' ' + s + ' ') + UPRIGHT


def welcome() -> bytes:
    return (rule(1) + title(3, 'SWITCHBOARD') + at(5, 9) + YELLOW + text('passerelle videotex') + rule(7)
            + at(10, 3) + text('3615 code ? Tapez le code puis ') + key('Envoi')
            + at(13, 3) + GREEN + text('Code :') + at(13, 10) + text('.' * 20)
            + at(19, 3) + text('Sans code, ') + key('Envoi') + text(' : le menu')
            + rule(21)
            + at(22, 3) + key('Sommaire') + text(' menu   ') + key('Guide') + text(' aide')
            + at(24, 3) + key('Connexion/Fin') + text(' pour terminer'))


def menu() -> bytes:
    items = [('1', 'Actualites'), ('2', 'Annuaire des codes'), ('3', 'Aide')]
    page = rule(1) + title(3, 'SOMMAIRE') + rule(5)
    for i, (n, label) in enumerate(items):
        page += at(8 + 3 * i, 6) + INVERSE + text(' ' + n + ' ') + UPRIGHT + text('  ' + label)
    return (page + rule(20)
            + at(22, 3) + text('Votre choix :') + at(22, 17) + text('..') + at(22, 21) + key('Envoi')
            + at(24, 3) + key('Retour') + text(' accueil  ') + key('Guide') + text(' aide'))


def news(n: int, total: int, lines: list[str]) -> bytes:
    page = rule(1, MAGENTA) + title(3, 'ACTUALITES') + at(3, 36) + text('%d/%d' % (n, total)) + rule(5, MAGENTA)
    for i, line in enumerate(lines):
        page += at(7 + i, 2) + text(line)
    hint = key('Suite') + text(' page suivante') if n < total else key('Suite') + text(' retour au menu')
    return page + rule(21, MAGENTA) + at(22, 3) + hint + at(23, 3) + key('Retour') + text(' page precedente') \
        + at(24, 3) + key('Sommaire') + text(' menu')


NEWS = [
    ['La passerelle Switchboard relie les',
     'Minitel du monde entier aux services',
     'videotex encore en ligne.',
     '',
     'Depuis un navigateur, un emulateur',
     'Minitel parle a la passerelle par',
     'WebSocket.'],
    ['Les codes disponibles sont dans',
     "l'annuaire : tapez 2 puis Envoi dans",
     'le sommaire.',
     '',
     'Sur chaque page, tapez le code d\'un',
     'service puis Envoi pour vous y',
     'connecter.'],
]


def help_page() -> bytes:
    keys = [('Envoi', 'valide choix ou code'),
            ('Suite', 'page suivante'),
            ('Retour', 'page precedente'),
            ('Repetition', "reaffiche l'ecran"),
            ('Correction', 'efface le dernier signe'),
            ('Annulation', 'efface la saisie'),
            ('Sommaire', 'le menu'),
            ('Connexion/Fin', 'termine la connexion')]
    page = rule(1, GREEN) + title(3, 'AIDE') + rule(5, GREEN)
    for i, (name, what) in enumerate(keys):
        page += at(7 + 2 * i, 2) + key(name) + at(7 + 2 * i, 18) + text(what)
    return page + at(24, 3) + key('Retour') + text(' ou ') + key('Sommaire') + text(' : le menu')


def codes_header() -> bytes:
    # The engine writes the listing on rows 4 to 21 (list = 4,21 in service.ini).
    return (title(2, 'ANNUAIRE DES CODES', YELLOW) + rule(3, YELLOW) + rule(22, YELLOW)
            + at(23, 1) + text('Code :') + at(23, 26) + key('Envoi')
            + at(24, 1) + key('Suite') + text('/') + key('Retour') + text(' defiler ') + key('Sommaire'))


PAGES = {
    'welcome.vdt': welcome(),
    'menu.vdt': menu(),
    'news1.vdt': news(1, 2, NEWS[0]),
    'news2.vdt': news(2, 2, NEWS[1]),
    'help.vdt': help_page(),
    'codes.vdt': codes_header(),
}

def check(name: str, data: bytes) -> None:
    """7-bit only, and no text running past column 40 (it would wrap)."""
    assert all(b < 0x80 for b in data), name
    i, row, col, last = 0, 1, 1, None
    while i < len(data):
        b = data[i]
        if b == US[0]:
            row, col = data[i + 1] - 0x40, data[i + 2] - 0x40
            i += 3
            continue
        if b == ESC[0]:
            i += 2
            continue
        if b == REP[0]:
            col += data[i + 1] - 0x40
            i += 2
        elif b >= 0x20:
            col += 1
            i += 1
        else:
            i += 1
        assert col <= 41, '%s: row %d runs past column 40' % (name, row)


if __name__ == '__main__':
    for name, data in PAGES.items():
        check(name, data)
        (HERE / name).write_bytes(data)
