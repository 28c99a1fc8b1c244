"""`harvest agent`: one warm browser that logs in for every harvester process of this user.

server.py is the agent process (a Unix socket, its browsers, the idle exit and the memory
bound); control.py starts, stops and asks it. The CLI's side is in logins/: agent_socket.py
(finding it, asking it, a whole login) and agent_link.py (the browser part of a login).
docs/agent.md says which side does what, and why.
"""
