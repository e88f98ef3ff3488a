"""Bus layer: the in-process `MessageBus` and the topic names."""
