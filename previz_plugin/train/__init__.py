"""Training, export and evaluation of previz generators. Everything here needs the `train` extra (torch).

Nothing in the fill path imports this package; each module imports torch itself, so `import
previz_plugin.train` alone stays cheap.
"""
