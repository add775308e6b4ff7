"""Class texts and their embeddings for PPT's language-guided classifier (`class_texts`, `embeddings`)."""
