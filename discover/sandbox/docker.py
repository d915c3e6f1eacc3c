def docker_unavailable():
    return "not yet"
