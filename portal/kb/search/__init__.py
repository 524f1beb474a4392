"""Help-centre search on Whoosh: analysis, index storage, ranking, snippets and spelling."""
