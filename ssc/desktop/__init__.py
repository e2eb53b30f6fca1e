"""Desktop integration: contained desktop entries and terminal profiles, managed by ``sscctl``.

Pure modules hold the rules and build what is written; edge modules read and write files and
run tools, and turn their failures into ``SscError`` values that name the file:

    ids.py        desktop file IDs: ``foo.desktop`` ↔ ``applications/foo.desktop`` (pure)
    keyfile.py    desktop entry text → groups of lines → the same text back (pure)
    exec_line.py  the Exec key's quoting: split into arguments and join them back (pure)
    contain.py    an application's entry → the entry that starts it through ssc (pure)
    mimecache.py  an applications directory's mimeinfo.cache, which file associations use (pure)
    terminal.py   terminal profiles: what to write to GNOME Terminal's and Ptyxis's settings (pure)
    files.py      the edge for entries: find by ID, read, write atomically, list, remove, refresh
    gsettings.py  the edge for terminal settings: the ``gsettings`` tool
    manage.py     what each ``sscctl`` command does, in terms of the modules above
"""
