"""Dataset capability: the data lake's uploads, downloads, archives, grants, previews and GC."""
