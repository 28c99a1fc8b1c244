"""`harvest agent`: one warm browser that logs in for every harvester process of this user.

server.py is the agent process (a Unix socket, its browsers, the idle exit and the memory
bound); control.py starts, stops and asks it. The CLI's side of a login through it is
logins/agent_link.py. docs/agent.md says which side does what, and why.
"""
