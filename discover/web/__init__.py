"""The local web view (`discover serve`) and the page it shares with the static report (`discover report`)."""
